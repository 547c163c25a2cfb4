// probe-target: what the Http11Probe conformance suite (../shared/conformance/http11probe) asks a server to
// serve, built from the library's Router and FileServer.
//
//     swift run probe-target --port 0        # prints "probe-target listening on http://127.0.0.1:PORT/"
//
// GET and HEAD / serve a file (so the answer carries ETag and Last-Modified), OPTIONS / answers 204 with
// Allow, POST / echoes the body (read whole first); GET and POST /echo answer the received header fields one per line as
// `Name: Value`; GET /cookie answers the parsed Cookie pairs as `name=value` lines.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HTTPChat
import HTTPTypes
import NIOCore

@main
struct ProbeTarget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe-target", abstract: "The routes the Http11Probe conformance suite expects."
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port (0 picks a free one).")
    var port = 8090

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    mutating func run() async throws {
        var configuration = ServerConfiguration(host: host, port: port)
        if let threads { configuration.threads = threads }
        let root = try ProbeRoutes.makeRoot()
        let server: HTTPServer
        do {
            server = try await HTTPServer.start(configuration: configuration, responder: try ProbeRoutes.router(root: root).build())
        } catch {
            throw HTTPServer.explained(error, host: host, port: port)
        }
        print("probe-target listening on http://\(host):\(server.port)/")
        fflush(nil)  // flush stdout: scripts read the port from this line
        try await server.waitUntilClosed()
    }
}

enum ProbeRoutes {
    /// A fresh folder holding the `index.html` that `/` serves.
    static func makeRoot() throws -> String {
        var template = Array("/tmp/probe-target-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HTTPError(.internalServerError, "mkdtemp failed") }
        let root = String(cString: made)
        let page = "<!doctype html><meta charset=utf-8><title>probe-target</title><p>Hello from HTTPChat.</p>\n"
        guard let file = fopen(root + "/index.html", "w") else { throw HTTPError(.internalServerError, "cannot write index.html") }
        fputs(page, file)
        fclose(file)
        return root
    }

    static func router(root: String) throws -> Router {
        let files = try FileServer(root: root)
        let router = Router()
        router.get("/") { request in try await files.respond(to: request) }
        router.on(.options, "/") { _ in
            Response(status: .noContent, headerFields: [.allow: "GET, HEAD, OPTIONS, POST"])
        }
        // The body is read whole before answering, so a request whose framing turns out malformed midway gets
        // its 400, not a 200 already under way (the probe judges the status).
        router.post("/") { request in
            let body = try await request.body.collect(upTo: HTTPLimits().maxBodyBytes)
            return Response(headerFields: [.contentType: "application/octet-stream"], body: ResponseBody(bytes: body))
        }
        let echoFields: @Sendable (Request) throws -> Response = { request in
            .text(request.headerFields.map { "\($0.name): \($0.value)\n" }.joined())
        }
        router.get("/echo", echoFields)
        router.post("/echo", echoFields)
        router.get("/cookie") { request in
            .text(request.cookies.map { "\($0.name)=\($0.value)\n" }.joined())
        }
        return router
    }
}
