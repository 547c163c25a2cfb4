// Hello: the smallest HTTPChat server, used by the benchmarks and the conformance probe.
//
//     swift run -c release hello --port 8080 [--threads 1]
//
// GET /plaintext -> "Hello, World!" (text/plain); GET /json -> {"message":"Hello, World!"};
// any other method and path -> 200 echoing the request body (application/octet-stream), streamed back as it
// arrives (chunked), so an echo of any size holds only a few chunks in memory.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HTTPChat
import HTTPTypes
import NIOCore

@main
struct Hello: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello",
        abstract: "A minimal HTTPChat server: /plaintext, /json, and an echo of everything else."
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port (0 picks a free one).")
    var port = 8080

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Also serve the files of this folder under /files/ (for the soak test and benchmarks).")
    var files: String?

    @Option(help: "Serve HTTPS with this PEM certificate chain (with --tls-key; for the HTTPS benchmarks).")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    mutating func run() async throws {
        var configuration = ServerConfiguration(host: host, port: port)
        if let threads { configuration.threads = threads }
        if let tlsCert, let tlsKey {
            configuration.tls = TLSSettings(certificateChainFile: tlsCert, privateKeyFile: tlsKey)
        }
        let server: HTTPServer
        do {
            server = try await HTTPServer.start(configuration: configuration, responder: try Self.responder(files: files))
        } catch {
            throw HTTPServer.explained(error, host: host, port: port)  // "port 8080 ... is in use; try ...", no NIO text
        }
        print("hello listening on \(tlsCert == nil ? "http" : "https")://\(host):\(server.port)/")
        fflush(nil)  // flush stdout: scripts read the port from this line
        try await server.waitUntilClosed()
    }

    static func responder(files: String? = nil) throws -> some HTTPResponder {
        let plaintext = ByteBuffer(string: "Hello, World!")
        let json = ByteBuffer(string: #"{"message":"Hello, World!"}"#)
        var textFields = HTTPFields()
        textFields[.contentType] = "text/plain"
        var jsonFields = HTTPFields()
        jsonFields[.contentType] = "application/json"
        return EchoFallback(
            plaintext: Response(headerFields: textFields, body: ResponseBody(bytes: plaintext)),
            json: Response(headerFields: jsonFields, body: ResponseBody(bytes: json)),
            files: try files.map { try FileServer(root: $0, mountPath: "/files") }
        )
    }
}

/// `/plaintext` and `/json` for GET and HEAD, `/files/...` when a folder was given; an echo of the body for
/// every other method and path.
struct EchoFallback: ImmediateHTTPResponder {
    let plaintext: Response
    let json: Response
    let files: FileServer?

    func respondImmediately(to request: Request) throws -> Response? {
        if let files, request.target.hasPrefix("/files/") { return try files.respondImmediately(to: request) }
        if request.method == .get || request.method == .head {
            switch request.target {
            case "/plaintext": return plaintext
            case "/json": return json
            default: break
            }
        }
        guard let bytes = request.body.bufferedBytes else { return nil }  // a streamed body needs a task
        return echo(bytes)
    }

    func respond(to request: Request) async throws -> Response {
        if let files, request.target.hasPrefix("/files/") { return try await files.respond(to: request) }
        if let immediate = try respondImmediately(to: request) { return immediate }
        let body = request.body
        return Response(headerFields: Self.octetStream, body: .stream { writer in
            for try await chunk in body { try await writer.write(chunk) }
        })
    }

    static let octetStream: HTTPFields = [.contentType: "application/octet-stream"]

    /// The collected body, sent back as one chunk of unknown length (framed like the streamed echo).
    private func echo(_ bytes: ByteBuffer) -> Response {
        Response(headerFields: Self.octetStream, body: ResponseBody(producer: BufferProducer(bytes), length: nil))
    }
}
