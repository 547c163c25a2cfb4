/// Percent-decoding (RFC 3986 §2.1), once, strictly.
public enum PercentEncoding {
    /// Decodes `%XX` escapes once. `+` is kept.
    ///
    /// - Parameter s: the encoded text.
    /// - Returns: the decoded text, or nil when an escape is malformed, the result is not valid UTF-8
    ///   (overlong forms included), or it contains NUL.
    public static func decode(_ s: some StringProtocol) -> String? {
        decode(s, plusIsSpace: false)
    }

    static func decode(_ s: some StringProtocol, plusIsSpace: Bool) -> String? {
        let utf8 = s.utf8
        if !utf8.contains(UInt8(ascii: "%")) && !(plusIsSpace && utf8.contains(UInt8(ascii: "+"))) {
            return utf8.contains(0) ? nil : String(s)
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = utf8.startIndex
        while i != utf8.endIndex {
            let c = utf8[i]
            if c == UInt8(ascii: "%") {
                let h1 = utf8.index(after: i)
                guard h1 != utf8.endIndex else { return nil }
                let h2 = utf8.index(after: h1)
                guard h2 != utf8.endIndex, let hi = hexValue(utf8[h1]), let lo = hexValue(utf8[h2]) else { return nil }
                out.append(hi << 4 | lo)
                i = utf8.index(after: h2)
                continue
            }
            out.append(plusIsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
            i = utf8.index(after: i)
        }
        if out.contains(0) { return nil }
        return String(validating: out, as: UTF8.self)
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`): safe as one
    /// path segment and inside an HTML attribute.
    ///
    /// - Parameter s: the decoded text.
    /// - Returns: the encoded segment.
    static func encodeSegment(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// `application/x-www-form-urlencoded` (the WHATWG URL standard's form encoding): `name=value` pairs joined by
/// `&`, `+` for space, `%XX` escapes.
public enum FormURLEncoded {
    /// Parses pairs in order. A pair without `=` has an empty value; pairs whose escapes are malformed are
    /// skipped. Split on `&` and `=` bytes, never on Characters (a combining mark after `&` would otherwise
    /// hide it, and the next pair would become part of a value).
    ///
    /// - Parameter s: the encoded text, without a leading `?`.
    /// - Returns: the decoded pairs.
    public static func parse(_ s: some StringProtocol) -> [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        let text = Substring(s)
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let eq = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = Substring(eq.map { pair[..<$0] } ?? pair)
            let rawValue = Substring(eq.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...])
            guard let name = PercentEncoding.decode(rawName, plusIsSpace: true),
                let value = PercentEncoding.decode(rawValue, plusIsSpace: true)
            else { continue }
            items.append((name, value))
        }
        return items
    }
}
