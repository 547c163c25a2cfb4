import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("Percent encoding")
struct PercentEncodingTests {
    /// (encoded, decoded once; nil when refused).
    static let decoding: [(String, String?)] = [
        ("", ""),
        ("plain", "plain"),
        ("a+b", "a+b"),  // + is a space only in forms
        ("%41", "A"),
        ("%4a%4A", "JJ"),
        ("a%20b", "a b"),
        ("%2F", "/"),
        ("%25", "%"),
        ("%252e", "%2e"),  // once, never twice
        ("%c3%a9", "é"),
        ("é", "é"),
        ("%E2%82%AC", "€"),
        ("%F0%9F%98%80", "😀"),
        // Malformed escapes.
        ("%", nil),
        ("a%", nil),
        ("%4", nil),
        ("%zz", nil),
        ("%4g", nil),
        ("%g4", nil),
        ("% 41", nil),
        ("%-1", nil),
        ("%+1", nil),
        ("%%41", nil),
        // Not UTF-8, or NUL.
        ("%C3", nil),  // a lead byte alone
        ("%A9", nil),  // a continuation byte alone
        ("%C0%AF", nil),  // overlong /
        ("%E0%80%AF", nil),  // overlong /, three bytes
        ("%ED%A0%80", nil),  // a surrogate
        ("%F4%90%80%80", nil),  // above U+10FFFF
        ("%FF", nil),
        ("%00", nil),
        ("a%00b", nil),
        ("a\u{0}b", nil),  // a raw NUL, no escape to decode
    ]

    @Test("decode: each escape once, strictly", arguments: decoding)
    func decode(_ encoded: String, _ want: String?) {
        let got = PercentEncoding.decode(encoded)
        #expect(got == want, "\(encoded.debugDescription): got \(String(describing: got)), want \(String(describing: want))")
    }

    @Test("decode in forms: + is a space, %2B a plus", arguments: [
        ("a+b", "a b"), ("a%2Bb", "a+b"), ("++", "  "), ("a+%zz", nil), ("+\u{0}", nil), ("plain", "plain"),
    ] as [(String, String?)])
    func decodeForm(_ encoded: String, _ want: String?) {
        let got = PercentEncoding.decode(encoded, plusIsSpace: true)
        #expect(got == want, "\(encoded.debugDescription): got \(String(describing: got)), want \(String(describing: want))")
    }

    @Test("decode takes substrings", arguments: [("x%41y", 1..<4, "A"), ("%41%42", 3..<6, "B")])
    func decodeSubstring(_ whole: String, _ range: Range<Int>, _ want: String) {
        let utf8 = Array(whole.utf8)
        let part = String(decoding: utf8[range], as: UTF8.self)
        let sub = whole[whole.index(whole.startIndex, offsetBy: range.lowerBound)..<whole.index(whole.startIndex, offsetBy: range.upperBound)]
        #expect(sub == part)
        #expect(PercentEncoding.decode(sub) == want)
    }

    /// (decoded, one encoded segment).
    static let encoding: [(String, String)] = [
        ("", ""),
        ("abcXYZ019", "abcXYZ019"),
        ("-._~", "-._~"),
        ("a b", "a%20b"),
        ("/", "%2F"),
        ("\\", "%5C"),
        ("%", "%25"),
        ("?#[]@", "%3F%23%5B%5D%40"),
        ("!$&'()*+,;=", "%21%24%26%27%28%29%2A%2B%2C%3B%3D"),
        ("\n\t", "%0A%09"),
        ("\u{1}", "%01"),
        ("é", "%C3%A9"),
        ("😀", "%F0%9F%98%80"),
        ("\"<>", "%22%3C%3E"),
    ]

    @Test("encodeSegment escapes all but RFC 3986 unreserved characters, in uppercase hex", arguments: encoding)
    func encodeSegment(_ decoded: String, _ want: String) {
        let got = PercentEncoding.encodeSegment(decoded)
        #expect(got == want, "\(decoded.debugDescription): got \(got), want \(want)")
        #expect(PercentEncoding.decode(got) == (decoded.utf8.contains(0) ? nil : decoded), "\(decoded.debugDescription) does not round-trip")
    }

    @Test("every byte-sized scalar round-trips through encodeSegment and decode")
    func everyScalarRoundTrips() {
        for value in 1..<256 {
            let s = String(Unicode.Scalar(UInt8(value)))
            let encoded = PercentEncoding.encodeSegment(s)
            #expect(PercentEncoding.decode(encoded) == s, "U+\(String(value, radix: 16)): \(encoded)")
            #expect(!encoded.contains("/"), "U+\(String(value, radix: 16)): \(encoded) holds a separator")
        }
    }

    @Test("hexValue reads both cases and nothing else")
    func hexValue() {
        let digits = Array("0123456789abcdefABCDEF".utf8)
        let want: [UInt8] = Array(0...15) + Array(10...15)
        #expect(digits.map { PercentEncoding.hexValue($0) } == want)
        let others = (0...255).map(UInt8.init).filter { !digits.contains($0) }
        #expect(others.allSatisfy { PercentEncoding.hexValue($0) == nil })
    }

    /// (query, pairs).
    static let forms: [(String, [String])] = [
        ("", []),
        ("a=1", ["a=1"]),
        ("a=1&b=2", ["a=1", "b=2"]),
        ("a", ["a="]),
        ("a=", ["a="]),
        ("=x", ["=x"]),
        ("a=1=2", ["a=1=2"]),
        ("&&a=1&&b&", ["a=1", "b="]),
        ("q=a+b&r=%2B%26%3D", ["q=a b", "r=+&="]),
        ("a+b=c+d", ["a b=c d"]),
        ("bad=%zz&good=1", ["good=1"]),
        ("%zz=1&good=1", ["good=1"]),
        ("nul=%00&ok", ["ok="]),
        ("a=1&a=2", ["a=1", "a=2"]),
        ("x=%C3%A9", ["x=é"]),
        ("x=%C3", []),
        (";a=1", [";a=1"]),  // ; is no separator (WHATWG)
    ]

    @Test("form-urlencoded pairs in order, malformed pairs skipped", arguments: forms)
    func formPairs(_ query: String, _ want: [String]) {
        let got = FormURLEncoded.parse(query).map { "\($0.name)=\($0.value)" }
        #expect(got == want, "\(query.debugDescription): got \(got), want \(want)")
    }

    @Test("form pairs split on & and = bytes: a combining mark after & or = hides neither")
    func formPairsOnBytes() {
        let pairs = FormURLEncoded.parse("a=1&\u{0301}b=2&c=\u{0301}3")
        #expect(pairs.map(\.name) == ["a", "\u{0301}b", "c"], "got \(pairs)")
        #expect(pairs.map(\.value) == ["1", "2", "\u{0301}3"], "got \(pairs)")
        #expect(FormURLEncoded.parse("x&y=&=z").map { "\($0.name)=\($0.value)" } == ["x=", "y=", "=z"])
    }
}
