/// The byte classes of HTTP's grammar (RFC 9110 §5.5, §5.6; RFC 9112 §2.2), in one place: the request head
/// parser, the chunked decoder and the multipart parser all read tokens, field values and OWS by these tables,
/// so a byte is never a token to one parser and not to another.
package enum HTTPGrammar {
    /// CR.
    package static let cr = UInt8(ascii: "\r")
    /// LF.
    package static let lf = UInt8(ascii: "\n")
    /// SP.
    package static let sp = UInt8(ascii: " ")
    /// HTAB.
    package static let htab = UInt8(ascii: "\t")
    /// `:`, ending a field name.
    package static let colon = UInt8(ascii: ":")

    /// A lookup table: ASCII letters and digits, and the bytes of `extra`.
    ///
    /// - Parameter extra: the other bytes in the class, as ASCII text.
    /// - Returns: 256 flags, indexed by byte.
    package static func alphanumericTable(plus extra: String) -> [Bool] {
        (0..<256).map { b in
            switch UInt8(b) {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return extra.utf8.contains(UInt8(b))
            }
        }
    }

    /// RFC 9110 §5.6.2 tchar, indexed by byte.
    package static let isTokenByte = alphanumericTable(plus: "!#$%&'*+-.^_`|~")

    /// A field-value byte: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
    @inline(__always)
    package static func isValueByte(_ b: UInt8) -> Bool {
        b == htab || (b >= 0x20 && b != 0x7F)
    }

    /// `b` in lower case, when it is an ASCII capital.
    @inline(__always)
    /// The elements of comma-separated list values (RFC 9110 §5.6.1), each without the OWS around it and
    /// with ASCII letters lowercased; empty elements dropped. Decided on bytes: on `Character`s a comma that
    /// a prepended scalar joins is not split, and `lowercased()` maps U+212A KELVIN SIGN to `k`.
    ///
    /// - Parameter values: the values of one field, as sent.
    /// - Returns: the elements, in order.
    package static func listElements(_ values: [String]) -> [[UInt8]] {
        values.flatMap { value in
            value.utf8.split(separator: UInt8(ascii: ",")).compactMap { element -> [UInt8]? in
                let trimmed = trimmingOWS(element)
                return trimmed.isEmpty ? nil : trimmed.map(lower)
            }
        }
    }

    /// `bytes` without the SP and HTAB around them (RFC 9110 §5.6.3 OWS), decided on bytes.
    ///
    /// - Parameter bytes: a field value or a piece of one.
    /// - Returns: the slice between the OWS (empty when there is nothing else).
    package static func trimmingOWS<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        let isOWS = { (b: UInt8) in b == sp || b == htab }
        guard let first = bytes.firstIndex(where: { !isOWS($0) }), let last = bytes.lastIndex(where: { !isOWS($0) }) else {
            return bytes[bytes.endIndex...]
        }
        return bytes[first...last]
    }

    package static func lower(_ b: UInt8) -> UInt8 {
        (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) ? b | 0x20 : b
    }

    /// DIGIT (RFC 5234 B.1).
    @inline(__always)
    package static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// HEXDIG, either case.
    @inline(__always)
    package static func isHex(_ c: UInt8) -> Bool {
        isDigit(c) || (lower(c) >= UInt8(ascii: "a") && lower(c) <= UInt8(ascii: "f"))
    }
}

extension Substring {
    /// Without leading and trailing SP and HTAB (RFC 9110 §5.6.3 OWS).
    package func trimmingOWS() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }

    /// Without leading SP and HTAB (RFC 9110 §5.6.3 OWS).
    package func droppingLeadingOWS() -> Substring {
        drop { $0 == " " || $0 == "\t" }
    }
}

extension String {
    /// Without leading and trailing SP and HTAB (RFC 9110 §5.6.3 OWS).
    package func trimmingOWSString() -> String { String(Substring(self).trimmingOWS()) }
}
