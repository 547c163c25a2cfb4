import Foundation
import HTTPTypes
import InMemoryTracing
import NIOCore
import TestSupport
import Testing
import Tracing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// An in-memory tracer that propagates as W3C Trace Context does (what swift-otel's default propagator reads):
/// a valid `traceparent` (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero) becomes
/// the remote parent, and `tracestate` is kept in the context.
struct W3CInMemoryTracer: Tracer {
    let inner = InMemoryTracer()

    enum TraceStateKey: ServiceContextKey { typealias Value = String }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        inner.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() { inner.forceFlush() }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = parent.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        let hex = Set("0123456789abcdef")
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.allSatisfy({ $0.allSatisfy(hex.contains) }),
              parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16)
        else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: parts[1], spanID: parts[2], parentSpanID: nil)
        if let state = extractor.extract(key: "tracestate", from: carrier) { context[TraceStateKey.self] = state }
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {}

    /// Waits (a little) for `count` spans to have ended.
    func finished(_ count: Int) async throws -> [FinishedInMemorySpan] {
        for _ in 0..<500 {
            let spans = inner.finishedSpans
            if spans.count >= count { return spans }
            try await Task.sleep(for: .milliseconds(5))
        }
        return inner.finishedSpans
    }
}

/// The same exchange, in-process through `HTTPChatTesting` or over a real socket.
enum Via: String, CaseIterable, CustomStringConvertible, Sendable {
    case inProcess, socket
    var description: String { rawValue }

    /// Sends `raw` (a whole request whose last field ends in CRLF, without the blank line) and returns the status
    /// and body of the answer.
    func exchange(_ raw: String, with responder: any HTTPResponder) async throws -> (status: Int, body: String) {
        switch self {
        case .inProcess:
            let connection = try await InProcessConnection(responder: responder)
            try await connection.send(raw + "\r\n")
            let response = try #require(try await connection.readResponse())
            return (response.status, response.text)
        case .socket:
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.threads = 1
            let server = try await HTTPServer.start(configuration: configuration, responder: responder)
            let socket = try TestSocket(port: server.port)
            try socket.send(raw + "Connection: close\r\n\r\n")
            let answer = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
            socket.close()
            await server.shutdown(gracePeriod: .seconds(1))
            let status = Int(answer.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
            let body = answer.range(of: "\r\n\r\n").map { String(answer[$0.upperBound...]) } ?? ""
            return (status, body)
        }
    }
}

struct Overloaded: Error {}

@Suite("Tracing")
struct HTTPTracingTests {
    private func site(_ tracer: W3CInMemoryTracer) throws -> any HTTPResponder {
        let router = Router()
        router.use(HTTPTracing(tracer: tracer))
        router.get("/notes/:id") { request in
            // The handler's own span is a child of the server span.
            tracer.withSpan("load note") { _ in }
            return .text("note \(request.parameters["id"] ?? "")")
        }
        router.get("/busy") { _ in Response(status: .serviceUnavailable) }
        router.get("/boom") { _ in throw Overloaded() }
        router.get("/stream") { _ in
            Response(body: .stream { writer in
                for _ in 0..<4 { try await writer.write(ByteBuffer(repeating: UInt8(ascii: "x"), count: 1000)) }
            })
        }
        return try router.build()
    }

    @Test("a request runs in a server span named by its route, a child of the W3C traceparent, with the HTTP attributes", arguments: Via.allCases)
    func serverSpan(via: Via) async throws {
        let tracer = W3CInMemoryTracer()
        let answer = try await via.exchange(
            "GET /notes/42?full=1 HTTP/1.1\r\nHost: notes.example:8443\r\nUser-Agent: probe/1\r\n"
                + "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
                + "tracestate: congo=t61rcWkgMzE\r\n",
            with: try site(tracer)
        )
        #expect(answer.status == 200)
        #expect(answer.body == "note 42")
        let spans = try await tracer.finished(2)
        let server = try #require(spans.first { $0.kind == .server })
        let child = try #require(spans.first { $0.operationName == "load note" })
        #expect(server.operationName == "GET /notes/:id")
        #expect(server.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(server.parentSpanID == "00f067aa0ba902b7")
        #expect(server.context[W3CInMemoryTracer.TraceStateKey.self] == "congo=t61rcWkgMzE")
        #expect(child.parentSpanID == server.spanID)
        #expect(child.traceID == server.traceID)
        let a = server.attributes
        #expect(a["http.request.method"]?.toSpanAttribute() == .string("GET"))
        #expect(a["url.path"]?.toSpanAttribute() == .string("/notes/42"))
        #expect(a["url.query"]?.toSpanAttribute() == .string("full=1"))
        #expect(a["url.scheme"]?.toSpanAttribute() == .string("http"))
        #expect(a["http.route"]?.toSpanAttribute() == .string("/notes/:id"))
        #expect(a["network.protocol.version"]?.toSpanAttribute() == .string("1.1"))
        #expect(a["server.address"]?.toSpanAttribute() == .string("notes.example"))
        #expect(a["server.port"]?.toSpanAttribute() == .int64(8443))
        #expect(a["user_agent.original"]?.toSpanAttribute() == .string("probe/1"))
        #expect(a["http.response.status_code"]?.toSpanAttribute() == .int64(200))
        #expect(a["http.response.body.size"]?.toSpanAttribute() == .int64(7))
        #expect(a["client.address"]?.toSpanAttribute() == .string("127.0.0.1"))
        #expect(server.status == nil)
    }

    @Test("a thrown error is recorded and marks the span, with the 500 the client gets", arguments: Via.allCases)
    func thrownError(via: Via) async throws {
        let tracer = W3CInMemoryTracer()
        let answer = try await via.exchange("GET /boom HTTP/1.1\r\nHost: x\r\n", with: try site(tracer))
        #expect(answer.status == 500)
        let server = try #require(try await tracer.finished(1).first)
        #expect(server.operationName == "GET /boom")
        #expect(server.status?.code == .error)
        #expect(server.errors.count == 1)
        #expect(server.errors.first?.error is Overloaded)
        #expect(server.attributes["error.type"]?.toSpanAttribute() == .string(String(reflecting: Overloaded.self)))
        #expect(server.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(500))
    }

    @Test("the span of a streamed body ends after the body, with the bytes sent", arguments: Via.allCases)
    func streamedBody(via: Via) async throws {
        let tracer = W3CInMemoryTracer()
        let answer = try await via.exchange("GET /stream HTTP/1.1\r\nHost: x\r\n", with: try site(tracer))
        #expect(answer.status == 200)
        #expect(answer.body.filter { $0 == "x" }.count == 4000)
        let server = try #require(try await tracer.finished(1).first)
        #expect(server.attributes["http.response.body.size"]?.toSpanAttribute() == .int64(4000))
    }

    @Test("a 5xx answer marks the span with the status as error.type; a 404 does not; no route names the span by method")
    func statuses() async throws {
        let tracer = W3CInMemoryTracer()
        let site = try site(tracer)
        _ = try await site.respond(to: Request(method: .get, target: "/busy"))
        await #expect(throws: HTTPError.self) { try await site.respond(to: Request(method: .get, target: "/nowhere")) }
        let spans = try await tracer.finished(2)
        let busy = try #require(spans.first { $0.operationName == "GET /busy" })
        #expect(busy.status?.code == .error)
        #expect(busy.attributes["error.type"]?.toSpanAttribute() == .string("503"))
        let missing = try #require(spans.first { $0.operationName == "GET" })
        #expect(missing.status == nil)
        #expect(missing.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(404))
        #expect(missing.attributes["http.route"] == nil)
    }

    @Test("a malformed or all-zero traceparent starts a new trace; an unknown method is _OTHER")
    func untrustedParents() async throws {
        let tracer = W3CInMemoryTracer()
        let site = try site(tracer)
        for parent in ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                       "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "garbage"] {
            _ = try await site.respond(to: Request(method: .get, target: "/notes/1", headerFields: [HTTPField.Name("traceparent")!: parent]))
        }
        _ = try? await site.respond(to: Request(method: HTTPRequest.Method("BREW")!, target: "/notes/1"))
        let spans = try await tracer.finished(9)
        let servers = spans.filter { $0.kind == .server }
        #expect(servers.count == 5)
        #expect(servers.allSatisfy { $0.parentSpanID == nil })
        let brew = try #require(servers.last)
        #expect(brew.attributes["http.request.method"]?.toSpanAttribute() == .string("_OTHER"))
        #expect(brew.attributes["http.request.method_original"]?.toSpanAttribute() == .string("BREW"))
    }

    @Test("the extractor reads fields by name, joins repeated ones, and refuses names that are not field names")
    func extractor() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: HTTPField.Name("tracestate")!, value: "a=1"))
        fields.append(HTTPField(name: HTTPField.Name("tracestate")!, value: "b=2"))
        let extractor = HTTPFieldsExtractor()
        #expect(extractor.extract(key: "tracestate", from: fields) == "a=1,b=2")
        #expect(extractor.extract(key: "TraceState", from: fields) == "a=1,b=2")
        #expect(extractor.extract(key: "traceparent", from: fields) == nil)
        #expect(extractor.extract(key: "bad name", from: fields) == nil)
    }
}
