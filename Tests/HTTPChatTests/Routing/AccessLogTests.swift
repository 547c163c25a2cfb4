import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

@Suite("Access log")
struct AccessLogTests {
    static let time = 1_700_000_000

    /// Whether `line` is one line of printable ASCII ended by its newline.
    static func isOnePrintableLine(_ line: String) -> Bool {
        let bytes = Array(line.utf8)
        return bytes.last == 10 && bytes.dropLast().allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    static func userAgent(_ raw: [UInt8]) -> Request {
        Request(method: .get, target: "/", headerFields: HTTPFields([HTTPField(name: .userAgent, lenientValue: raw)]))
    }

    @Test("a plain request is logged in the Combined Log Format, unchanged")
    func plainLine() {
        let request = Request(
            method: .get, target: "/a?b=1",
            headerFields: [.referer: "https://example.com/", .userAgent: "curl/8.5 (x86_64)"]
        )
        let got = AccessLog.line(request, status: 200, bytes: 12, time: Self.time)
        let want = "- - - [14/Nov/2023:22:13:20 +0000] \"GET /a?b=1 HTTP/1.1\" 200 12 \"https://example.com/\" \"curl/8.5 (x86_64)\"\n"
        #expect(got == want, "got \(got.debugDescription), want \(want.debugDescription)")
    }

    @Test("CR and LF in a target cannot forge a second line: they are \\x0D\\x0A")
    func forgedLineInTarget() {
        let target = "/a\r\n10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /admin HTTP/1.1\" 200 5 \"-\" \"-\""
        let got = AccessLog.line(Request(method: .get, target: target), status: 404, bytes: nil, time: Self.time)
        #expect(Self.isOnePrintableLine(got), "got \(got.debugDescription)")
        #expect(got.contains(#"GET /a\x0D\x0A10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \x22GET /admin HTTP/1.1\x22 200 5 \x22-\x22 \x22-\x22 HTTP/1.1"#), "got \(got)")
    }

    @Test("hostile field bytes are written as \\xHH of their raw bytes", arguments: [
        ("NEL U+0085", Array("a\u{85}b".utf8), #"a\xC2\x85b"#),
        ("LINE SEPARATOR U+2028", Array("a\u{2028}b".utf8), #"a\xE2\x80\xA8b"#),
        ("PARAGRAPH SEPARATOR U+2029", Array("a\u{2029}b".utf8), #"a\xE2\x80\xA9b"#),
        ("RIGHT-TO-LEFT OVERRIDE U+202E", Array("gpj.\u{202E}exe".utf8), #"gpj.\xE2\x80\xAEexe"#),
        ("ZERO WIDTH SPACE U+200B", Array("a\u{200B}b".utf8), #"a\xE2\x80\x8Bb"#),
        ("invalid UTF-8", [0x61, 0xFF, 0xC3, 0x28, 0x80], #"a\xFF\xC3(\x80"#),
        ("terminal escape", Array("\u{1B}[2J\u{1B}]0;owned\u{07}".utf8), #"\x1B[2J\x1B]0;owned\x07"#),
        ("tab and DEL", [0x61, 0x09, 0x7F, 0x62], #"a\x09\x7Fb"#),
        ("quote and backslash", Array(#"x" 200 0 "-" "\"#.utf8), #"x\x22 200 0 \x22-\x22 \x22\x5C"#),
    ])
    func hostileFieldBytes(_ name: String, _ raw: [UInt8], _ want: String) {
        let got = AccessLog.line(Self.userAgent(raw), status: 200, bytes: 0, time: Self.time)
        #expect(Self.isOnePrintableLine(got), "\(name): got \(got.debugDescription)")
        #expect(got.hasSuffix("\"-\" \"\(want)\"\n"), "\(name): got \(got.debugDescription), want user agent \(want)")
    }

    @Test("a request read off the wire with obs-text in its fields is logged as one escaped line")
    func fromTheWire() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let router = Router()
        router.use(try AccessLog.file(path))
        router.get("/") { _ in .text("ok") }
        let c = try await InProcessConnection(responder: try router.build())
        var raw = ByteBuffer(string: "GET /?q=%0A HTTP/1.1\r\nHost: x\r\nReferer: r\u{2028}\u{202E}\r\nUser-Agent: ")
        raw.writeBytes([0xC2, 0x85, 0xFF, 0x22, 0x09, 0x5C])
        raw.writeString("\r\n\r\n")
        try await c.send(raw)
        #expect(try await c.readResponse()?.status == 200)
        var text = ""
        for _ in 0..<200 where !text.hasSuffix("\n") {
            try await Task.sleep(for: .milliseconds(10))
            text = (try? String(contentsOfFile: path, encoding: .isoLatin1)) ?? ""
        }
        #expect(Self.isOnePrintableLine(text), "got \(text.debugDescription)")
        #expect(text.hasSuffix(#""GET /?q=%0A HTTP/1.1" 200 2 "r\xE2\x80\xA8\xE2\x80\xAE" "\xC2\x85\xFF\x22\x09\x5C""# + "\n"), "got \(text.debugDescription)")
    }
}
