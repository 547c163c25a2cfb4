import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// Waits until the connection has closed, running its loop (at most `seconds`); returns what it wrote.
private func waitClosed(_ c: InProcessConnection, seconds: Int = 5) async throws -> String {
    _ = try await c.closes(within: .seconds(seconds))
    return try await c.pendingOutput()  // everything written, not yet read as a response
}

/// Produces `count` bytes of `x` in pieces of 3.
private struct Counted: ChatProducer {
    var left: Int
    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        guard left > 0 else { return .end }
        let n = min(3, left)
        left -= n
        return .bytes(ByteBuffer(string: String(repeating: "x", count: n)))
    }
}

@Suite("Response framing")
struct ResponseFramingTests {
    struct PlanCase: CustomTestStringConvertible, Sendable {
        let method: HTTPRequest.Method
        let version: HTTPVersion
        let keepAlive: Bool
        let status: Int
        let length: Int?
        let plan: ResponsePlan
        var testDescription: String { "\(method) \(version) keepAlive=\(keepAlive) \(status) length=\(length.map(String.init) ?? "nil")" }
    }

    static let plans: [PlanCase] = [
        .init(method: .get, version: .http1_1, keepAlive: true, status: 200, length: 5,
              plan: .init(framing: .length(5), connection: .none, sendsBody: true, persistent: true)),
        .init(method: .get, version: .http1_1, keepAlive: true, status: 200, length: nil,
              plan: .init(framing: .chunked, connection: .none, sendsBody: true, persistent: true)),
        .init(method: .get, version: .http1_0, keepAlive: true, status: 200, length: nil,
              plan: .init(framing: .untilClose, connection: .close, sendsBody: true, persistent: false)),
        .init(method: .get, version: .http1_0, keepAlive: true, status: 200, length: 2,
              plan: .init(framing: .length(2), connection: .keepAlive, sendsBody: true, persistent: true)),
        .init(method: .get, version: .http1_1, keepAlive: false, status: 200, length: 2,
              plan: .init(framing: .length(2), connection: .close, sendsBody: true, persistent: false)),
        .init(method: .head, version: .http1_1, keepAlive: true, status: 200, length: 9,
              plan: .init(framing: .length(9), connection: .none, sendsBody: false, persistent: true)),
        .init(method: .get, version: .http1_1, keepAlive: true, status: 204, length: 4,
              plan: .init(framing: .none, connection: .none, sendsBody: false, persistent: true)),
        .init(method: .get, version: .http1_1, keepAlive: true, status: 304, length: nil,
              plan: .init(framing: .none, connection: .none, sendsBody: false, persistent: true)),
        .init(method: .get, version: .http1_0, keepAlive: true, status: 304, length: nil,
              plan: .init(framing: .none, connection: .keepAlive, sendsBody: false, persistent: true)),
    ]

    @Test("the response plan: framing, body and keep-alive from the request and the response", arguments: plans)
    func plan(_ c: PlanCase) {
        let got = ResponsePlan.make(
            method: c.method, version: c.version, keepAlive: c.keepAlive, status: HTTPResponse.Status(code: c.status),
            bodyLength: c.length
        )
        #expect(got == c.plan, "got \(got), want \(c.plan)")
    }

    @Test("only 200-599 is a final status", arguments: [(100, false), (101, false), (103, false), (199, false),
        (200, true), (404, true), (599, true), (0, false), (42, false), (600, false), (999, false)])
    func finalStatuses(code: Int, final: Bool) {
        #expect(ResponsePlan.isFinal(HTTPResponse.Status(code: code)) == final)
    }

    @Test("a handler's interim or invalid status is answered 500, and the next request is served",
          arguments: [100, 101, 102, 103, 0, 42, 600, 999])
    func interimStatusFromAHandler(code: Int) async throws {
        let responder = ResponderFunction { request in
            if request.target == "/bad" { return Response(status: HTTPResponse.Status(code: code), body: .init(string: "body")) }
            return .text("next")
        }
        let c = try await InProcessConnection(responder: responder)
        try await c.send("GET /bad HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try #require(try await c.readResponse())
        #expect(first.status == 500, "got \(first.status) for a handler's \(code)")
        let second = try #require(try await c.readResponse())
        #expect(second.status == 200 && second.text == "next")
    }

    @Test("a thrown HTTPError with a 1xx status is answered 500")
    func interimStatusThrown() async throws {
        let c = try await InProcessConnection(responder: ResponderFunction { _ in throw HTTPError(.continue) })
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse()?.status == 500)
    }

    enum BodyKind: String, CaseIterable, Sendable {
        case stream, producer
    }

    @Test("a body that produces more than its declared length never writes past it: the connection is aborted",
          arguments: BodyKind.allCases)
    func overlongBody(kind: BodyKind) async throws {
        let responder = ResponderFunction { request in
            if request.target == "/next" { return .text("SMUGGLED?") }
            switch kind {
            case .stream:
                return Response(body: .stream(length: 5) { writer in
                    try await writer.write(ByteBuffer(string: "12345"))
                    try await writer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"))
                })
            case .producer:
                return Response(body: ResponseBody(producer: Counted(left: 11), length: 5))
            }
        }
        let c = try await InProcessConnection(responder: responder)
        try await c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        let out = try await waitClosed(c)
        #expect(!c.isOpen, "the connection must be aborted")
        let head = try #require(out.range(of: "\r\n\r\n"))
        let body = out[head.upperBound...]
        #expect(body.utf8.count <= 5, "wrote past Content-Length: \(out.debugDescription)")
        #expect(!out.contains("evil") && !out.contains("SMUGGLED"), "\(out.debugDescription)")
    }

    @Test("a body that ends before its declared length aborts the connection instead of leaving it open",
          arguments: BodyKind.allCases)
    func shortBody(kind: BodyKind) async throws {
        let responder = ResponderFunction { request in
            if request.target == "/next" { return .text("next") }
            switch kind {
            case .stream:
                return Response(body: .stream(length: 10) { writer in try await writer.write(ByteBuffer(string: "abc")) })
            case .producer:
                return Response(body: ResponseBody(producer: Counted(left: 4), length: 10))
            }
        }
        let c = try await InProcessConnection(responder: responder)
        try await c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        let out = try await waitClosed(c)
        #expect(!c.isOpen, "a short body must close the connection")
        #expect(out.contains("Content-Length: 10"))
        #expect(!out.contains("next"), "the next response would be read as the rest of the body: \(out.debugDescription)")
    }

    @Test("a body of exactly its declared length keeps the connection", arguments: BodyKind.allCases)
    func exactBody(kind: BodyKind) async throws {
        let responder = ResponderFunction { _ in
            switch kind {
            case .stream:
                return Response(body: .stream(length: 6) { writer in
                    try await writer.write(ByteBuffer(string: "abc"))
                    try await writer.write(ByteBuffer(string: "def"))
                })
            case .producer:
                return Response(body: ResponseBody(producer: Counted(left: 6), length: 6))
            }
        }
        let c = try await InProcessConnection(responder: responder)
        try await c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse()?.text.count == 6)
        #expect(try await c.readResponse()?.text.count == 6)
        #expect(c.isOpen)
    }

    @Test("the router, the file server and CGI read one canonical path: //a, /./a and /%61 name /a")
    func canonicalPathIsShared() async throws {
        let router = Router()
        router.get("/private/**") { _ in .text("private") }
        router.get("/**") { _ in .text("public") }
        let table = try router.build()
        for target in ["/private/x", "//private/x", "/./private/x", "/%70rivate/x", "http://h//private/x", "/private/./x"] {
            let (response, body) = try await get(table, target)
            #expect(response.status == .ok && String(buffer: body) == "private", "\(target) routed to \(String(buffer: body))")
        }
        for target in ["/public/../private/x", "/%2e%2e/private/x", "/a/%2E%2E/private"] {
            let (response, _) = try await get(table, target)
            #expect(response.status == .badRequest, "\(target): \(response.status)")
        }
        #expect(try Request(method: .get, target: "//a/./b%20c/").pathSegments == ["a", "b c"])
        // Split on bytes: U+06DD joins the `/` after it into one Character, which a Character split kept
        // inside the name (found by fuzz-path).
        #expect(try Request(method: .get, target: "/6e\u{06DD}/ii").pathSegments == ["6e\u{06DD}", "ii"])
        #expect(PathResolution.components(of: "/r/x\u{06DD}/y", below: "/r") == ["x\u{06DD}", "y"])
        #expect(throws: PathResolution.Refusal.badRequest) { try PathResolution.segments("/a%DB%9D%2Fb", hidden: false) }
    }

    @Test("the cached status lines carry each code's standard phrase whole (a phrase cut by a character was never matched)")
    func cachedStatusLines() {
        #expect(ResponseHeadWriter.reasonPhrases[200] == "OK")
        #expect(ResponseHeadWriter.reasonPhrases[201] == "Created")
        #expect(ResponseHeadWriter.reasonPhrases[503] == "Service Unavailable")
        for status in ResponseHeadWriter.commonStatuses {
            #expect(ResponseHeadWriter.reasonPhrases[status.code] == status.reasonPhrase, "\(status.code)")
            #expect(ResponseHeadWriter.statusLines[status.code] == "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        }
    }

    /// The head the writer must produce, built the plain way, one string piece at a time.
    private static func expectedHead(
        _ status: HTTPResponse.Status, _ fields: HTTPFields, _ framing: ResponseHeadWriter.Framing,
        _ connection: ResponseHeadWriter.ConnectionField, date: String
    ) -> [UInt8] {
        let phrase = status.reasonPhrase.isEmpty ? (ResponseHeadWriter.reasonPhrases[status.code] ?? "") : status.reasonPhrase
        var out = Array("HTTP/1.1 \(status.code) \(phrase)\r\n".utf8)
        var hasDate = false
        for field in fields where ![.contentLength, .transferEncoding, .connection].contains(field.name) {
            if field.name == .date { hasDate = true }
            out += Array(field.name.rawName.utf8) + Array(": ".utf8)
            field.withUnsafeBytesOfValue { out += Array($0) }
            out += Array("\r\n".utf8)
        }
        if !hasDate { out += Array("Date: \(date)\r\n".utf8) }
        switch framing {
        case .length(let n): out += Array("Content-Length: \(n)\r\n".utf8)
        case .chunked: out += Array("Transfer-Encoding: chunked\r\n".utf8)
        case .none, .untilClose: break
        }
        switch connection {
        case .close: out += Array("Connection: close\r\n".utf8)
        case .keepAlive: out += Array("Connection: keep-alive\r\n".utf8)
        case .upgrade: out += Array("Connection: Upgrade\r\n".utf8)
        case .none: break
        }
        return out + Array("\r\n".utf8)
    }

    @Test(
        "the head writer writes status line, fields and the server's fields byte for byte, whatever the buffer's room",
        arguments: [0, 1, 64, 4096]
    )
    func headWriterBytes(capacity: Int) throws {
        var many = HTTPFields()
        for i in 0..<40 { many.append(HTTPField(name: HTTPField.Name("X-Field-\(i)")!, value: String(repeating: "v", count: i * 7))) }
        var mixed = HTTPFields()
        mixed[.contentType] = "text/plain; charset=utf-8"
        mixed[.contentLength] = "999"  // replaced by the framing
        mixed[.connection] = "upgrade"  // replaced by the exchange's decision
        mixed.append(HTTPField(name: HTTPField.Name("X-Obs-Text")!, value: [0x61, 0xE9, 0xFF, 0x62]))
        mixed.append(HTTPField(name: HTTPField.Name("X-Empty")!, value: ""))
        var dated = HTTPFields()
        dated[.date] = "Sun, 06 Nov 1994 08:49:37 GMT"
        let cases: [(HTTPResponse.Status, HTTPFields, ResponseHeadWriter.Framing, ResponseHeadWriter.ConnectionField)] = [
            (.ok, HTTPFields(), .length(13), .none),
            (.ok, mixed, .length(Int.max), .keepAlive),
            (.notFound, many, .chunked, .close),
            (HTTPResponse.Status(code: 404), HTTPFields(), .length(0), .close),  // bare code: the standard phrase
            (HTTPResponse.Status(code: 200, reasonPhrase: "Fine Thanks"), dated, .untilClose, .none),  // own phrase
            (HTTPResponse.Status(code: 599, reasonPhrase: "Odd"), HTTPFields(), .none, .keepAlive),  // not cached
            (HTTPResponse.Status(code: 999, reasonPhrase: String(repeating: "p", count: 300)), many, .length(1), .close),
            (.switchingProtocols, mixed, .none, .upgrade),
        ]
        for (status, fields, framing, connection) in cases {
            var buffer = ByteBufferAllocator().buffer(capacity: capacity)
            buffer.writeStaticString("prefix")
            ResponseHeadWriter.write(status: status, fields: fields, framing: framing, connection: connection, into: &buffer)
            let written = Array(buffer.readableBytesView)
            #expect(written.starts(with: Array("prefix".utf8)))
            let head = Array(written.dropFirst(6))
            // The Date the writer chose: the only piece not known in advance (29 bytes, IMF-fixdate).
            var date = "Sun, 06 Nov 1994 08:49:37 GMT"
            if fields[.date] == nil, let at = String(decoding: head, as: UTF8.self).range(of: "Date: ") {
                let text = String(decoding: head, as: UTF8.self)
                date = String(text[at.upperBound...].prefix(29))
                #expect(HTTPDate.parse(date) != nil, "\(date)")
            }
            #expect(head == Self.expectedHead(status, fields, framing, connection, date: date), "\(status)")
        }
    }
}

