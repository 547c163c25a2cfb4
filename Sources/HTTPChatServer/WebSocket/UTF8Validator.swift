/// Checks UTF-8 as it arrives, in any pieces, so that a text message that stops being UTF-8 is refused at the
/// first bad byte (RFC 6455 §8.1: fail fast), not once it is complete. Accepts exactly the well-formed
/// sequences of Unicode's table 3-7: no overlong forms, no surrogates (U+D800-U+DFFF), nothing above U+10FFFF.
struct UTF8Validator: Sendable {
    /// Continuation bytes still expected in the current sequence.
    private var pending = 0
    /// The range the next byte must fall in (narrower than 80-BF right after some lead bytes).
    private var low: UInt8 = 0x80
    private var high: UInt8 = 0xBF

    /// Whether the bytes so far end on a character boundary (a complete message must).
    var isComplete: Bool { pending == 0 }

    /// Takes the next bytes; false as soon as they cannot be UTF-8 whatever follows.
    mutating func take(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            if pending > 0 {
                guard byte >= low && byte <= high else { return false }
                pending -= 1
                low = 0x80
                high = 0xBF
                continue
            }
            switch byte {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: pending = 1
            case 0xE0: pending = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: pending = 2
            case 0xED: pending = 2; high = 0x9F
            case 0xF0: pending = 3; low = 0x90
            case 0xF1...0xF3: pending = 3
            case 0xF4: pending = 3; high = 0x8F
            default: return false  // 80-C1 and F5-FF never start a character
            }
        }
        return true
    }
}
