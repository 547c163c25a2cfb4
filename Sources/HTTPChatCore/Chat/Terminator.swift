
/// What ends the current frame of input: asynchat's `set_terminator` argument, as an enum.
///
/// | asynchat                         | HTTPChat                 |
/// |----------------------------------|--------------------------|
/// | `set_terminator(b"\r\n\r\n")`    | `.delimiter("\r\n\r\n")` |
/// | `set_terminator(n)`              | `.count(n)`              |
/// | `set_terminator(None)`           | `.none`                  |
///
/// Invalid values are rejected at once: assigning an empty delimiter or a negative count to
/// ``ChatFramer/terminator`` (or ``ChatChannel/terminator``) is a programming error and traps.
public enum Terminator: Hashable, Sendable {
    /// Input is framed by this byte string, which must not be empty. The bytes before it are collected;
    /// the delimiter itself is consumed and never handed to `collectIncomingData`.
    case delimiter([UInt8])
    /// The next `n` bytes (`n >= 0`) form the frame. `.count(0)` ends the frame at once.
    ///
    /// Unlike asynchat, where a spent count reads as `0` and then means "collect everything", a count
    /// terminator that has fired becomes ``none`` until the protocol sets another one; and `.count(0)` fires
    /// immediately instead of meaning "collect everything".
    case count(Int)
    /// No terminator: every byte received is collected, and `foundTerminator` is never called.
    case none

    /// A delimiter terminator made from the UTF-8 bytes of `string`.
    ///
    /// - Parameter string: the delimiter text, for example `"\r\n"`; must not be empty.
    /// - Returns: `.delimiter(Array(string.utf8))`.
    public static func delimiter(_ string: String) -> Terminator {
        .delimiter(Array(string.utf8))
    }

    /// Traps when the terminator is not representable: an empty delimiter or a negative count.
    func validate() {
        switch self {
        case .delimiter(let bytes):
            precondition(!bytes.isEmpty, "Terminator.delimiter must not be empty")
        case .count(let n):
            precondition(n >= 0, "Terminator.count must not be negative, got \(n)")
        case .none:
            break
        }
    }
}
