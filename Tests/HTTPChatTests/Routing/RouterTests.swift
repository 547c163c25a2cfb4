import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// Answers with the route's name and its parameters, so tests see which route won.
func named(_ name: String) -> @Sendable (Request) throws -> Response {
    { request in
        let params = request.parameters.names.map { "\($0)=\(request.parameters[$0]!)" }.joined(separator: ",")
        return .text(params.isEmpty ? name : "\(name) \(params)")
    }
}

func call(_ table: RouteTable, _ method: HTTPRequest.Method, _ target: String) async -> (status: Int, text: String, fields: HTTPFields) {
    do {
        let response = try await table.respond(to: Request(method: method, target: target))
        return (response.status.code, String(buffer: try await response.body.collect()), response.headerFields)
    } catch let error as HTTPError {
        return (error.status.code, error.message ?? "", error.headerFields)
    } catch {
        return (-1, "\(error)", [:])
    }
}

@Suite("Router")
struct RouterTests {
    static func sample() throws -> RouteTable {
        let r = Router()
        r.get("/", named("root"))
        r.get("/notes", named("list"))
        r.get("/notes/new", named("new"))
        r.get("/notes/:id", named("show"))
        r.delete("/notes/:id", named("delete"))
        r.get("/notes/:id/tags/:tag", named("tag"))
        r.get("/files/*/raw", named("raw"))
        r.get("/static/**", named("static"))
        r.post("/static/upload", named("upload"))
        return try r.build()
    }

    @Test("routes match with precedence literal > :param > * > **", arguments: [
        ("/", "root"),
        ("/notes", "list"),
        ("/notes/", "list"),
        ("/notes/new", "new"),
        ("/notes/42", "show id=42"),
        ("/notes/a%20b", "show id=a b"),
        ("/notes/7/tags/red", "tag id=7,tag=red"),
        ("/files/x/raw", "raw *=x"),
        ("/static", "static **="),
        ("/static/css/site.css", "static **=css/site.css"),
        ("/static/upload", "static **=upload"),
        ("/notes/42?full=1", "show id=42"),
        ("http://example.com/notes/9", "show id=9"),
    ])
    func matches(_ target: String, _ want: String) async throws {
        let got = await call(try Self.sample(), .get, target)
        #expect(got.status == 200, "\(target): \(got)")
        #expect(got.text == want, "\(target): got \(got.text), want \(want)")
    }

    @Test("a literal branch without the method falls back to a parameter branch that has it")
    func backtracksByMethod() async throws {
        let got = await call(try Self.sample(), .delete, "/notes/new")
        #expect(got.text == "delete id=new")
    }

    @Test("an unknown path is 404; a known path without the method is 405 with Allow")
    func notFoundAndNotAllowed() async throws {
        let table = try Self.sample()
        #expect(await call(table, .get, "/nope").status == 404)
        #expect(await call(table, .get, "/notes/1/extra").status == 404)
        let put = await call(table, .put, "/notes/1")
        #expect(put.status == 405)
        #expect(put.fields[.allow] == "DELETE, GET, HEAD")
        let postUpload = await call(table, .post, "/static/upload")
        #expect(postUpload.text == "upload")
    }

    @Test("a target that is no path (CONNECT host:port, M-SEARCH *) is 501, never routed as a segment")
    func nonPathTargetsAreNotRouted() async throws {
        let r = Router()
        r.get("/:any", named("param"))
        r.on(.connect, "/:any", named("connect"))
        r.on(HTTPRequest.Method("M-SEARCH")!, "/**", named("search"))
        let table = try r.build()
        #expect(await call(table, .connect, "example.com:443").status == 501)
        #expect(await call(table, HTTPRequest.Method("M-SEARCH")!, "*").status == 501)
        #expect(await call(table, .get, "*").status == 501)
        #expect(await call(table, .connect, "/tunnel").text == "connect any=tunnel", "a CONNECT to a path still routes")
    }

    @Test("HEAD is served by GET routes")
    func headUsesGet() async throws {
        #expect(await call(try Self.sample(), .head, "/notes/5").text == "show id=5")
    }

    @Test("a malformed escape in the path is 400")
    func malformedPath() async throws {
        #expect(await call(try Self.sample(), .get, "/notes/%zz").status == 400)
        #expect(await call(try Self.sample(), .get, "/notes/%00").status == 400)
    }

    @Test("conflicting routes and malformed patterns are rejected at build time")
    func buildChecks() {
        let a = Router()
        a.get("/notes/:id", named("a"))
        a.get("/notes/:name", named("b"))
        #expect(throws: RouterError.conflict(method: "GET", first: "/notes/:id", second: "/notes/:name")) { try a.build() }
        let b = Router()
        b.get("/a/**/b", named("x"))
        #expect(throws: RouterError.self) { try b.build() }
        let c = Router()
        c.get("/a/:", named("x"))
        #expect(throws: RouterError.self) { try c.build() }
        let ok = Router()
        ok.get("/notes/:id", named("a"))
        ok.post("/notes/:id", named("b"))
        #expect(throws: Never.self) { try ok.build() }
    }

    @Test("group middleware runs, outer first, only for the group's routes; router middleware sees 404s")
    func middlewareOrder() async throws {
        let seen = NIOLockedValueBox<[String]>([])
        func mark(_ tag: String) -> MiddlewareFunction {
            MiddlewareFunction { request, next in
                seen.withLockedValue { $0.append(tag) }
                return try await next.respond(to: request)
            }
        }
        let r = Router()
        r.use(mark("router"))
        r.get("/plain", named("plain"))
        r.group("/api") { api in
            api.use(mark("api"))
            api.group("/v1") { v1 in
                v1.use(mark("v1"))
                v1.get("/ping", named("ping"))
            }
        }
        let table = try r.build()
        #expect(await call(table, .get, "/api/v1/ping").text == "ping")
        #expect(seen.withLockedValue { $0 } == ["router", "api", "v1"])
        seen.withLockedValue { $0 = [] }
        #expect(await call(table, .get, "/plain").text == "plain")
        #expect(await call(table, .get, "/missing").status == 404)
        #expect(seen.withLockedValue { $0 } == ["router", "router"])
    }

    @Test("immediate handlers without middleware answer on the fast path; async ones and middleware do not")
    func immediatePath() throws {
        let r = Router()
        r.get("/now") { _ in .text("now") }
        r.get("/later") { _ in
            try await Task.sleep(for: .milliseconds(1))
            return .text("later")
        }
        r.group("/g") { g in
            g.use(MiddlewareFunction { try await $1.respond(to: $0) })
            g.get("/now") { _ in .text("g") }
        }
        let table = try r.build()
        #expect(try table.respondImmediately(to: Request(method: .get, target: "/now"))?.body.bytes == ByteBuffer(string: "now"))
        #expect(try table.respondImmediately(to: Request(method: .get, target: "/later")) == nil)
        #expect(try table.respondImmediately(to: Request(method: .get, target: "/g/now")) == nil)
        #expect(throws: HTTPError.self) { try table.respondImmediately(to: Request(method: .get, target: "/none")) }
    }

    @Test("CORS answers preflights and decorates allowed origins only")
    func cors() async throws {
        let r = Router()
        r.use(CORS(allowedOrigins: .list(["https://app.example"]), exposedHeaders: ["X-Id"]))
        r.get("/data") { _ in .text("d") }
        let table = try r.build()
        var preflight = Request(method: .options, target: "/data")
        preflight.headerFields[.origin] = "https://app.example"
        preflight.headerFields[.accessControlRequestMethod] = "GET"
        preflight.headerFields[.accessControlRequestHeaders] = "X-Token"
        let pre = try await table.respond(to: preflight)
        #expect(pre.status == .noContent)
        #expect(pre.headerFields[.accessControlAllowOrigin] == "https://app.example")
        #expect(pre.headerFields[.accessControlAllowHeaders] == "X-Token")
        var get = Request(method: .get, target: "/data")
        get.headerFields[.origin] = "https://app.example"
        let ok = try await table.respond(to: get)
        #expect(ok.headerFields[.accessControlAllowOrigin] == "https://app.example")
        #expect(ok.headerFields[.accessControlExposeHeaders] == "X-Id")
        #expect(ok.headerFields[.vary] == "Origin")
        get.headerFields[.origin] = "https://evil.example"
        let other = try await table.respond(to: get)
        #expect(other.headerFields[.accessControlAllowOrigin] == nil)
    }

    @Test("the request logger logs method, target and status, errors included")
    func requestLogger() async throws {
        let lines = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let r = Router()
        r.use(RequestLogger(logger: logger))
        r.get("/ok") { _ in .text("ok") }
        let table = try r.build()
        _ = await call(table, .get, "/ok")
        _ = await call(table, .get, "/missing")
        #expect(lines.withLockedValue { $0 } == ["GET /ok 200", "GET /missing 404"])
    }
}

struct CapturingLogHandler: LogHandler {
    let lines: NIOLockedValueBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.withLockedValue { $0.append("\(event.message)") }
    }
}
