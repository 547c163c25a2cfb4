import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

typealias Decoded = DecodedRequest

/// Runs a ChatFramer and an HTTPRequestDecoder together, as the connection does.
func decode(_ reads: [ByteBuffer], limits: HTTPLimits = HTTPLimits()) -> (requests: [Decoded], error: HTTPParseError?) {
    let run = decodeRequestStream(reads, limits: limits)
    return (run.requests, run.error)
}

struct ParseCase: Sendable, CustomStringConvertible {
    var name: String
    var raw: String
    /// The status expected, or nil when the requests parse.
    var status: Int?
    var requests: [Decoded] = []
    var description: String { name }
}

@Suite("HTTP request decoding")
struct HTTPRequestDecoderTests {
    static let valid: [ParseCase] = [
        ParseCase(name: "simple GET", raw: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", status: nil,
                  requests: [Decoded(method: "GET", target: "/", body: "")]),
        ParseCase(name: "Content-Length body", raw: "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", status: nil,
                  requests: [Decoded(method: "POST", target: "/p", body: "hello")]),
        ParseCase(name: "leading zeros in Content-Length", raw: "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\nabc", status: nil,
                  requests: [Decoded(method: "PUT", target: "/u", body: "abc")]),
        ParseCase(name: "identical duplicate Content-Length", raw: "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", status: nil,
                  requests: [Decoded(method: "PUT", target: "/u", body: "ab")]),
        ParseCase(name: "chunked with extensions and trailers",
                  raw: "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"q\\\"x\"\r\nhello\r\n6;flag\r\n world\r\n000\r\nVary: *\r\nX-T: 1\r\n\r\n",
                  status: nil,
                  requests: [Decoded(method: "POST", target: "/c", body: "hello world", trailers: ["Vary: *", "X-T: 1"])]),
        ParseCase(name: "uppercase and lowercase hex sizes", raw: "PUT /h HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", status: nil,
                  requests: [Decoded(method: "PUT", target: "/h", body: "01234567890123456789")]),
        ParseCase(name: "pipelined requests with CRLF between", raw: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n", status: nil,
                  requests: [Decoded(method: "POST", target: "/a", body: "A"), Decoded(method: "GET", target: "/b", body: ""), Decoded(method: "GET", target: "/c", body: "")]),
        ParseCase(name: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", status: nil,
                  requests: [Decoded(method: "GET", target: "/", body: "")]),
        ParseCase(name: "absolute-form and asterisk-form", raw: "GET http://h.example:1234?q=1 HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", status: nil,
                  requests: [Decoded(method: "GET", target: "http://h.example:1234?q=1", body: ""), Decoded(method: "OPTIONS", target: "*", body: "")]),
        ParseCase(name: "registered extension methods", raw: "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\nPURGE /f HTTP/1.1\r\nHost: x\r\n\r\n", status: nil,
                  requests: [Decoded(method: "M-SEARCH", target: "*", body: ""), Decoded(method: "PURGE", target: "/f", body: "")]),
        ParseCase(name: "obs-text in a value, empty Host, IPv6 Host", raw: "GET /q\"|\\ HTTP/1.1\r\nHost: \r\nTest: D\u{00FC}sseldorf\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", status: nil,
                  requests: [Decoded(method: "GET", target: "/q\"|\\", body: ""), Decoded(method: "GET", target: "/", body: "")]),
        ParseCase(name: "a higher minor version is read as HTTP/1.1 (RFC 9110 §2.5)", raw: "GET /2 HTTP/1.2\r\nHost: x\r\n\r\nGET /9 HTTP/1.9\r\nHost: x\r\n\r\n", status: nil,
                  requests: [Decoded(method: "GET", target: "/2", body: ""), Decoded(method: "GET", target: "/9", body: "")]),
        ParseCase(name: "Host with sub-delims", raw: "GET / HTTP/1.1\r\nHost: 0.0.0.0=5000\r\n\r\n", status: nil,
                  requests: [Decoded(method: "GET", target: "/", body: "")]),
    ]

    static let invalid: [ParseCase] = [
        ParseCase(name: "bare LF between fields", raw: "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", status: 400),
        ParseCase(name: "bare CR in a value", raw: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep\ralive\r\n\r\n", status: 400),
        ParseCase(name: "bare CR after the request line", raw: "GET / HTTP/1.1\rHost: x\r\n\r\n", status: 400),
        ParseCase(name: "whitespace before the colon", raw: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", status: 400),
        ParseCase(name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", status: 400),
        ParseCase(name: "space before the first field", raw: "GET / HTTP/1.1\r\n Host: x\r\n\r\n", status: 400),
        ParseCase(name: "invalid field name", raw: "GET / HTTP/1.1\r\nHost: x\r\nFo@: 1\r\n\r\n", status: 400),
        ParseCase(name: "empty field name", raw: "GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n", status: 400),
        ParseCase(name: "control character in a value", raw: "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{0C}b\r\n\r\n", status: 400),
        ParseCase(name: "NUL in a value", raw: "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{00}b\r\n\r\n", status: 400),
        ParseCase(name: "two spaces in the request line", raw: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "space in the target", raw: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "fragment in an origin-form target", raw: "GET /path#frag HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "fragment after a query", raw: "GET /p?q=1#frag HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "fragment in an absolute-form target", raw: "GET http://h/p#f HTTP/1.1\r\nHost: h\r\n\r\n", status: 400),
        ParseCase(name: "empty fragment", raw: "GET /# HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "UTF-8 in the target", raw: "GET /\u{03B4} HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "missing Host in 1.1", raw: "GET / HTTP/1.1\r\n\r\n", status: 400),
        ParseCase(name: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400),
        ParseCase(name: "invalid Host", raw: "GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", status: 400),
        ParseCase(name: "unknown method", raw: "MKCOLA / HTTP/1.1\r\nHost: x\r\n\r\n", status: 501),
        ParseCase(name: "HTTP/0.9 with a version", raw: "GET / HTTP/0.9\r\nHost: x\r\n\r\n", status: 505),
        ParseCase(name: "HTTP/2.0", raw: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: 505),
        ParseCase(name: "malformed version", raw: "GET / HTTP/1.x\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "lower-case version", raw: "GET / http/1.1\r\nHost: x\r\n\r\n", status: 400),
        ParseCase(name: "Content-Length and Transfer-Encoding", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400),
        ParseCase(name: "differing Content-Lengths", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 400),
        ParseCase(name: "Content-Length list that differs", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", status: 400),
        ParseCase(name: "Content-Length with inner space", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4 2\r\n\r\n", status: 400),
        ParseCase(name: "signed Content-Length", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n", status: 400),
        ParseCase(name: "empty Content-Length", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", status: 400),
        ParseCase(name: "Content-Length overflow", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000000\r\n\r\n", status: 400),
        ParseCase(name: "Transfer-Encoding in HTTP/1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400),
        ParseCase(name: "unknown transfer coding", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: pigeons\r\n\r\n", status: 501),
        ParseCase(name: "gzip before chunked", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501),
        ParseCase(name: "chunked not final", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 400),
        ParseCase(name: "chunked twice over two lines", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400),
        ParseCase(name: "empty Transfer-Encoding", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", status: 400),
        ParseCase(name: "chunkedchunked", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedchunked\r\n\r\n", status: 501),
        // U+212A KELVIN SIGN lowercases to k: read on Characters this was chunked, to a proxy an unknown coding.
        ParseCase(name: "chunked spelled with a Kelvin sign", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chun\u{212A}ed\r\n\r\n0\r\n\r\n", status: 501),
        ParseCase(name: "chunked with a combining mark", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\u{0301}\r\n\r\n0\r\n\r\n", status: 501),
        ParseCase(name: "a prepended mark glued to the comma before chunked", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\u{0600}, chunked\r\n\r\n0\r\n\r\n", status: 501),
        ParseCase(name: "space after the chunk size", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na \r\n0123456789\r\n0\r\n\r\n", status: 400),
        ParseCase(name: "chunk extension without semicolon", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2 ext\r\naa\r\n0\r\n\r\n", status: 400),
        ParseCase(name: "empty chunk extension", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\naa\r\n0\r\n\r\n", status: 400),
        ParseCase(name: "unbalanced quote in a chunk extension", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"b\r\naa\r\n0\r\n\r\n", status: 400),
        ParseCase(name: "chunk size overflow", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", status: 400),
        ParseCase(name: "non-hex chunk size", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", status: 400),
        ParseCase(name: "chunk data without CRLF", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nABCDE0\r\n\r\n", status: 400),
        ParseCase(name: "missing last chunk", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n\r\n", status: 400),
        ParseCase(name: "bare LF in a chunk line", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nfoo\r\n0\r\n\r\n", status: 400),
        ParseCase(name: "obs-fold in trailers", raw: "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\n 2\r\n\r\n", status: 400),
        ParseCase(name: "unknown expectation", raw: "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", status: 417),
    ]

    @Test("valid requests decode the same at every split point", arguments: valid)
    func validAtEverySplit(_ c: ParseCase) {
        for reads in splits(of: Array(c.raw.utf8), pairsUpTo: 40) {
            let got = decode(reads)
            #expect(got.error == nil, "\(c.name): reads \(reads.map(\.readableBytes)): \(String(describing: got.error))")
            #expect(got.requests == c.requests, "\(c.name): reads \(reads.map(\.readableBytes)): got \(got.requests), want \(c.requests)")
        }
    }

    @Test("invalid requests fail with their status at every split point", arguments: invalid)
    func invalidAtEverySplit(_ c: ParseCase) {
        for reads in splits(of: Array(c.raw.utf8), pairsUpTo: 30) {
            let got = decode(reads)
            #expect(got.error?.status.code == c.status, "\(c.name): reads \(reads.map(\.readableBytes)): got \(String(describing: got.error)), want \(c.status!)")
        }
    }

    @Test("a request line over the limit is 414, even before its head ends")
    func requestLineTooLong() {
        var limits = HTTPLimits()
        limits.maxRequestLineLength = 32
        let long = "GET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(decode([ByteBuffer(string: long)], limits: limits).error?.status.code == 414)
        let neverEnds = "GET /" + String(repeating: "a", count: 100)
        #expect(decode([ByteBuffer(string: neverEnds)], limits: limits).error?.status.code == 414)
        let fits = "GET /" + String(repeating: "a", count: 10) + " HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(decode([ByteBuffer(string: fits)], limits: limits).error == nil)
    }

    @Test("a request line too long because of its method is 501 (or 400), never 414, however it is cut", arguments: [
        (String(repeating: "A", count: 100) + " / HTTP/1.1\r\nHost: x\r\n\r\n", true, 501),
        (String(repeating: "A", count: 100), true, 501),
        (String(repeating: "A", count: 100) + " / HTTP/1.1\r\nHost: x\r\n\r\n", false, 501),
        ("BREW /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: x\r\n\r\n", true, 501),
        ("GE@T /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: x\r\n\r\n", true, 400),
        ("\r\nGET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: x\r\n\r\n", true, 414),
        ("CUSTOM /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: x\r\n\r\n", false, 414),
    ])
    func longMethodIsNotImplemented(_ raw: String, _ registeredOnly: Bool, _ want: Int) {
        var limits = HTTPLimits()
        limits.maxRequestLineLength = 32
        if !registeredOnly { limits.acceptedMethods = nil }
        for reads in splits(of: Array(raw.utf8), pairsUpTo: 0) {
            let got = decode(reads, limits: limits)
            #expect(got.error?.status.code == want, "\(raw.prefix(12))...: reads \(reads.map(\.readableBytes)): got \(String(describing: got.error)), want \(want)")
        }
    }

    @Test("GET and HEAD take the parser's fast path only while the accepted methods hold both; lower case is another method")
    func commonMethodsFollowAcceptedMethods() throws {
        let get = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x")
        let head = ByteBuffer(string: "HEAD / HTTP/1.1\r\nHost: x")
        #expect(try HTTPHeadParser.parse(get, limits: HTTPLimits()).method == .get)
        #expect(try HTTPHeadParser.parse(head, limits: HTTPLimits()).method == .head)
        var noGet = HTTPLimits()
        noGet.acceptedMethods = ["HEAD", "POST"]
        #expect(throws: HTTPParseError.self) { try HTTPHeadParser.parse(get, limits: noGet) }
        do {
            _ = try HTTPHeadParser.parse(get, limits: noGet)
        } catch {
            #expect(error.status.code == 501)
        }
        #expect(try HTTPHeadParser.parse(head, limits: noGet).method == .head)  // the slow path still takes it
        noGet.acceptedMethods = nil  // any token again
        #expect(try HTTPHeadParser.parse(get, limits: noGet).method == .get)
        let lower = ByteBuffer(string: "get / HTTP/1.1\r\nHost: x")
        var any = HTTPLimits()
        any.acceptedMethods = nil
        #expect(try HTTPHeadParser.parse(lower, limits: any).method.rawValue == "get")
        do {
            _ = try HTTPHeadParser.parse(lower, limits: HTTPLimits())
            Issue.record("lower-case get is not a registered method")
        } catch {
            #expect(error.status.code == 501)
        }
    }

    @Test("field values keep their bytes: ASCII as text, obs-text bytes as they came (never repaired to U+FFFD)")
    func fieldValueBytesKept() throws {
        var raw = Array("GET / HTTP/1.1\r\nHost: x\r\nA: plain text, 1\r\nB: D".utf8)
        raw += [0xFC] + Array("sseldorf\r\nC: ".utf8) + [0xC3, 0xBC, 0xFF, 0x80] + Array("\r\nD: ".utf8)
        let parsed = try HTTPHeadParser.parse(ByteBuffer(bytes: raw), limits: HTTPLimits())
        func bytes(_ name: String) -> [UInt8]? {
            parsed.headerFields.first { $0.name.rawName == name }.map { field in field.withUnsafeBytesOfValue { Array($0) } }
        }
        #expect(bytes("A") == Array("plain text, 1".utf8))
        #expect(bytes("B") == [0x44, 0xFC] + Array("sseldorf".utf8))
        #expect(bytes("C") == [0xC3, 0xBC, 0xFF, 0x80])
        #expect(bytes("D") == [])
    }

    @Test("a header section over the byte limit is 431; a request line over it is 414")
    func headerSectionTooLarge() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 100
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "v", count: 200) + "\r\n\r\n"
        for reads in [[ByteBuffer(string: big)], Array(big.utf8).map { ByteBuffer(bytes: [$0]) }] {
            #expect(decode(reads, limits: limits).error?.status.code == 431)
        }
        let line = "GET /" + String(repeating: "a", count: 200)
        #expect(decode([ByteBuffer(string: line)], limits: limits).error?.status.code == 414)
    }

    @Test("more fields than the count limit is 431")
    func tooManyFields() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 3
        let raw = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(decode([ByteBuffer(string: raw)], limits: limits).error?.status.code == 431)
    }

    @Test("a body over the limit is 413: by Content-Length at once, chunked when the sum passes it")
    func bodyTooLarge() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let byLength = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
        #expect(decode([ByteBuffer(string: byLength)], limits: limits).error?.status.code == 413)
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"
        let got = decode([ByteBuffer(string: chunked)], limits: limits)
        #expect(got.error?.status.code == 413)
        let fits = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"
        #expect(decode([ByteBuffer(string: fits)], limits: limits).requests.first?.body == "abcdefghij")
    }

    /// Lines ended by a bare LF, which a lenient client sends and then waits for an answer: each must be refused
    /// as soon as its bytes are in, not left waiting for a CRLF that never comes (the trailer one hung the
    /// connection until the body-read timeout).
    static let bareLineBreaks: [ParseCase] = [
        ParseCase(name: "trailer section ended by a bare LF",
                  raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n", status: 400),
        ParseCase(name: "trailer field and section ended by bare LFs",
                  raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\n\n", status: 400),
        ParseCase(name: "bare CR in a trailer line",
                  raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\rY", status: 400),
        ParseCase(name: "a CR ending the input may still start a CRLF",
                  raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r", status: nil),
        ParseCase(name: "last chunk line ended by a bare LF",
                  raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\n", status: 400),
        ParseCase(name: "bare CR inside a chunk-size line",
                  raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\rx", status: 400),
        ParseCase(name: "head whose lines all end in bare LF",
                  raw: "GET / HTTP/1.1\nHost: x\n\n", status: 400),
        ParseCase(name: "head with one field ended by a bare LF",
                  raw: "GET / HTTP/1.1\r\nHost: x\nX: y\r\n", status: 400),
    ]

    @Test("a line ended by a bare LF (head, chunk-size or trailer line) is refused at once, at every split point", arguments: bareLineBreaks)
    func bareLineBreakRefusedAtOnce(_ c: ParseCase) {
        for reads in splits(of: Array(c.raw.utf8), pairsUpTo: 30) {
            let got = decodeRequestStream(reads)
            if let status = c.status {
                #expect(got.error?.status.code == status, "\(c.name): reads \(reads.map(\.readableBytes)): got \(String(describing: got.error)), pending \(got.pending), want \(status) without more input")
            } else {
                // A CR at the very end may yet be followed by LF: nothing is decided, the message is pending.
                #expect(got.error == nil && got.pending, "\(c.name): reads \(reads.map(\.readableBytes)): got \(String(describing: got.error)), want pending")
            }
        }
    }

    @Test("a trailer section over its limit is 431 however it is cut, even when a bare LF comes after the limit")
    func trailerLimitBeforeBareLF() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 64
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        let past = head + "X: " + String(repeating: "v", count: 70) + "\n\n"
        let within = head + "X: " + String(repeating: "v", count: 20) + "\n" + String(repeating: "w", count: 70)
        for (raw, want) in [(past, 431), (within, 400)] {
            for reads in splits(of: Array(raw.utf8), pairsUpTo: 0) {
                let got = decode(reads, limits: limits)
                #expect(got.error?.status.code == want, "reads \(reads.map(\.readableBytes)): got \(String(describing: got.error)), want \(want)")
            }
        }
    }

    @Test("keep-alive follows the version and Connection tokens")
    func keepAliveRules() throws {
        func head(_ raw: String) throws -> HTTPRequestHead {
            try HTTPHeadParser.parse(ByteBuffer(string: raw), limits: HTTPLimits())
        }
        #expect(try head("GET / HTTP/1.1\r\nHost: x").keepAlive)
        #expect(try !head("GET / HTTP/1.1\r\nHost: x\r\nConnection: close").keepAlive)
        #expect(try !head("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\t").keepAlive)
        #expect(try !head("GET / HTTP/1.0").keepAlive)
        #expect(try head("GET / HTTP/1.0\r\nConnection: keep-alive").keepAlive)
        // Decided on bytes: a Kelvin sign is not k, and a scalar joining the comma does not hide a token.
        #expect(try !head("GET / HTTP/1.0\r\nConnection: \u{212A}eep-alive").keepAlive)
        #expect(try !head("GET / HTTP/1.1\r\nHost: x\r\nConnection: x\u{0600},close").keepAlive)
        #expect(try head("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue").expectsContinue)
        #expect(try !head("PUT / HTTP/1.0\r\nExpect: 100-continue").expectsContinue)
    }
}
