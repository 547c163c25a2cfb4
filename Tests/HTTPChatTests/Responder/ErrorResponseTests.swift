import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

@Suite("Error response")
struct ErrorResponseTests {
    struct Unexpected: Error {}

    @Test("each kind of error maps to one status, one closing decision and one logging decision", arguments: [
        (HTTPError(.notFound) as any Error, 404, false, false),
        (HTTPError(.contentTooLarge), 413, false, false),
        (HTTPParseError(.contentTooLarge, "chunked body over the limit"), 413, true, false),
        (HTTPParseError(.badRequest, "bad chunk size"), 400, true, false),
        (HTTPParseError(.requestTimeout, "the body stalled"), 408, true, false),
        (Unexpected(), 500, false, true),
        (CancellationError(), 500, false, true),
    ])
    func mapping(_ error: any Error, _ status: Int, _ closes: Bool, _ unexpected: Bool) {
        let mapped = ErrorResponse(error)
        #expect(mapped.status.code == status, "\(error): got \(mapped.status.code), want \(status)")
        #expect(mapped.closesConnection == closes, "\(error): closes got \(mapped.closesConnection), want \(closes)")
        #expect(mapped.isUnexpected == unexpected, "\(error): unexpected got \(mapped.isUnexpected), want \(unexpected)")
    }

    @Test("a parse error's detail never reaches the client")
    func parseDetailStaysInTheLog() async throws {
        let mapped = ErrorResponse(HTTPParseError(.badRequest, "secret internal detail"))
        let body = String(buffer: try await mapped.response.body.collect())
        #expect(!body.contains("secret"), "got \(body)")
    }

    /// Bodies that cannot be read to their end: the responder's `collect` rethrows the connection's parse error.
    static let unreadableBodies: [(String, String, Int)] = [
        ("a chunked body over maxBodyBytes", "20\r\n" + String(repeating: "x", count: 32) + "\r\n0\r\n\r\n", 413),
        ("a malformed chunk size", "zz\r\nhello\r\n0\r\n\r\n", 400),
    ]

    @Test("the access log and the request logger record the status the client got for a body that cannot be read",
          arguments: unreadableBodies)
    func loggersRecordTheClientsStatus(_ name: String, _ chunks: String, _ status: Int) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("errors-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = NIOLockedValueBox<[String]>([])
        let router = Router()
        router.use(try AccessLog.file(path))
        router.use(RequestLogger(logger: Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }))
        router.post("/upload") { request in
            let body = try await request.body.collect(upTo: 1 << 20)
            return .text("\(body.readableBytes)")
        }
        var limits = HTTPLimits()
        limits.maxBodyBytes = 16
        let c = try await InProcessConnection(responder: try router.build(), limits: limits)
        try await c.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)

        let r = try #require(try await c.readResponse(), "\(name): no response")
        #expect(r.status == status, "\(name): client got \(r.status), want \(status)")
        #expect(r.headerFields[.connection] == "close", "\(name): a body that cannot be framed closes the connection")
        #expect(try await c.closes(), "\(name): still open")

        #expect(lines.withLockedValue { $0 } == ["POST /upload \(status)"], "\(name): request logger got \(lines.withLockedValue { $0 })")
        let logged = try await Self.waitForLine(in: path)
        let want = "\"POST /upload HTTP/1.1\" \(status) \(r.body.readableBytes) "
        #expect(logged.contains(want), "\(name): access log got \(logged.debugDescription), want it to contain \(want)")
    }

    @Test("CORS decorates an HTTPError answer, and lets a parse error through to the connection, which closes")
    func corsUsesTheSameMapping() async throws {
        let router = Router()
        router.use(CORS(allowedOrigins: .list(["https://app.example"])))
        router.post("/upload") { request in
            _ = try await request.body.collect(upTo: 1 << 20)
            throw HTTPError(.conflict, "taken")
        }
        var limits = HTTPLimits()
        limits.maxBodyBytes = 16
        let table = try router.build()

        let kept = try await InProcessConnection(responder: table, limits: limits)
        try await kept.send("POST /upload HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nContent-Length: 2\r\n\r\nhi")
        let conflict = try #require(try await kept.readResponse())
        #expect(conflict.status == 409, "got \(conflict.status), want 409")
        #expect(conflict.text == "taken\n", "got \(conflict.text.debugDescription)")
        #expect(conflict.headerFields[.accessControlAllowOrigin] == "https://app.example")
        #expect(kept.isOpen)

        let cut = try await InProcessConnection(responder: table, limits: limits)
        try await cut.send(
            "POST /upload HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        )
        let bad = try #require(try await cut.readResponse())
        #expect(bad.status == 400, "got \(bad.status), want 400")
        #expect(bad.headerFields[.connection] == "close")
        #expect(try await cut.closes(), "still open")
    }

    /// The access log's line, once its queue has written it (bounded).
    static func waitForLine(in path: String) async throws -> String {
        var text = ""
        for _ in 0..<200 where !text.hasSuffix("\n") {
            try await Task.sleep(for: .milliseconds(10))
            text = (try? String(contentsOfFile: path, encoding: .isoLatin1)) ?? ""
        }
        return text
    }
}
