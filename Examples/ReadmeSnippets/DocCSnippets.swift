// The DocC articles' code blocks (Sources/HTTPChat/HTTPChat.docc), compiled here: regions named `docc-...`.
// ReadmeTests checks that every swift block of an article is one of them, character for character.
import HTTPChat
import HTTPChatTesting
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle

// MARK: Chat framing

// snippet: docc-netstring
/// Reads netstrings (`5:hello,`): a length up to the colon, then exactly that many bytes, then a comma;
/// answers each with its payload reversed, as a netstring.
final class ReversedNetstrings: ChatProtocol {
    private var collected = ByteBuffer()
    private var expecting: Int?

    func channelOpened(_ chat: ChatChannel) { chat.terminator = .delimiter(":") }

    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        var data = data
        collected.writeBuffer(&data)
    }

    func foundTerminator(chat: ChatChannel) {
        defer { collected.clear() }
        guard expecting != nil else {
            // The length: digits only, and bounded, or the peer could ask for any amount of memory.
            guard let length = Int(String(buffer: collected)), (0...65_536).contains(length) else {
                chat.push("3:bad,")
                chat.closeWhenDone()
                return
            }
            expecting = length
            chat.terminator = .count(length + 1)  // the payload and its comma
            return
        }
        expecting = nil
        chat.terminator = .delimiter(":")
        guard collected.readableBytesView.last == UInt8(ascii: ",") else {
            chat.closeWhenDone()
            return
        }
        let payload = collected.readableBytesView.dropLast().reversed()
        chat.push("\(payload.count):")
        chat.push(ByteBuffer(bytes: payload))
        chat.push(",")
    }
}
// end snippet

// snippet: docc-producer
/// Counts down from `start`, one line per pull: the channel pulls only while the socket takes more.
struct Countdown: ChatProducer {
    var next: Int

    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        guard next >= 0 else { return .end }
        defer { next -= 1 }
        return .bytes(context.allocator.buffer(string: "\(next)\n"))
    }
}
// end snippet

func chatListenerSnippet() async throws {
    // snippet: docc-listener
    let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) { ReversedNetstrings() }
    print("netstrings on port \(listener.port)")
    try await listener.onClose.get()
    // end snippet
}

// MARK: Routing and middleware

// snippet: docc-middleware
/// Adds `Server-Timing: app;dur=MS` to every answer, errors included.
struct ServerTiming: HTTPMiddleware {
    func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next.respond(to: request)
        } catch let error as HTTPError {
            response = error.response  // the answer the error stands for, so it can carry the field too
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        response.headerFields[HTTPField.Name("Server-Timing")!] = "app;dur=\(milliseconds)"
        return response
    }
}
// end snippet

func routingSnippet() throws -> RouteTable {
    // snippet: docc-routes
    let router = Router()
    router.use(ServerTiming())                             // every request, 404s and 405s too
    router.get("/") { _ in .text("home") }
    router.get("/files/**") { request in                   // the rest of the path, any depth
        .text("file \(request.parameters["**"] ?? "")")
    }
    router.group("/api/v1") { api in
        api.use(CORS())                                    // only for /api/v1/...
        api.get("/users/:id") { request in
            let id: Int = try request.parameters.require("id")   // 400 unless an Int
            return .text("user \(id)")
        }
        api.delete("/users/:id") { _ in Response(status: .noContent) }
    }
    let table = try router.build()                         // conflicts and bad patterns are errors here
    // end snippet
    return table
}

// MARK: Bodies and streaming

func bodiesSnippet(router: Router) {
    // snippet: docc-bodies
    router.post("/checksum") { request in
        var sum: UInt32 = 0
        for try await chunk in request.body {              // pieces as they arrive; the socket waits for you
            for byte in chunk.readableBytesView { sum = sum &+ UInt32(byte) }
        }
        return .text("\(sum)\n")
    }
    router.post("/small") { request in
        let body = try await request.body.collect(upTo: 16 * 1024)   // 413 past the bound
        return .text("\(body.readableBytes) bytes\n")
    }
    router.get("/numbers") { _ in
        Response(body: .stream { writer in                 // chunked: the length is not known
            for n in 1...100_000 { try await writer.write("\(n)\n") }   // each write waits for a slow client
        })
    }
    router.get("/countdown") { _ in
        Response(body: ResponseBody(producer: Countdown(next: 10), length: nil))
    }
    // end snippet
}

// MARK: Files

func filesSnippet(router: Router) throws {
    // snippet: docc-files
    var options = FileServerOptions()
    options.listing = false                                 // 404 for folders without index.html
    options.cacheControl = "public, max-age=3600"
    let assets = try FileServer(root: "./assets", mountPath: "/assets", options: options)
    router.get("/assets/**") { try await assets.respond(to: $0) }

    let embedded = FileServer(provider: InMemoryFileProvider(files: [
        "/robots.txt": ByteBuffer(string: "User-agent: *\nDisallow:\n"),
    ]))
    router.get("/robots.txt") { try await embedded.respond(to: $0) }
    // end snippet
}

// MARK: Forms

func formsSnippet(router: Router) {
    // snippet: docc-forms
    router.post("/subscribe") { request in
        let fields = try await request.formURLEncoded()     // 415 for another type, 413 past the bound
        guard let email = fields.first(where: { $0.name == "email" })?.value else {
            throw HTTPError(.badRequest, "email is required")
        }
        return .text("subscribed \(email)\n")
    }
    router.post("/upload") { request in
        var sizes: [String: Int] = [:]
        var current = ""
        try await request.multipart { event in              // one part at a time, in bounded memory
            switch event {
            case .partHead(let head): current = head.filename ?? head.name
            case .partData(let bytes): sizes[current, default: 0] += bytes.readableBytes
            case .partEnd, .end: break
            }
        }
        return .text(sizes.map { "\($0.key): \($0.value) bytes" }.sorted().joined(separator: "\n") + "\n")
    }
    // end snippet
}

// MARK: CGI

func cgiSnippet() throws -> any HTTPResponder {
    // snippet: docc-cgi
    var cgi = CGIOptions()
    cgi.timeout = .seconds(10)                              // 504 if a script has not answered by then
    cgi.maxConcurrent = 16                                   // then 503 with Retry-After
    cgi.serverName = "example.org"
    let site = try CGIFileServer(root: "./site", cgiOptions: cgi)   // ./site/cgi-bin/* run, the rest are files
    // end snippet
    return site
}

// MARK: Testing

func testingArticleSnippet() async throws -> Bool {
    // snippet: docc-testing
    let router = Router()
    router.get("/slow") { _ in
        try await Task.sleep(for: .seconds(1))
        return .text("done")
    }
    var limits = HTTPLimits()
    limits.headerReadTimeout = .seconds(2)
    let connection = try await InProcessConnection(responder: try router.build(), limits: limits)

    try await connection.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    let answer = try await connection.readResponse()   // in real time, up to 30 s: the handler sleeps 1 s
    let served = answer?.status == 200 && answer?.text == "done"

    try await connection.send("GET /slow HTTP/1.1\r\n")  // a head that never ends...
    await connection.advanceTime(by: .seconds(3))        // ...past the header timeout, on the test's clock
    let timedOut = try await connection.readResponse()?.status == 408 && !connection.isOpen
    // end snippet
    return served && timedOut
}

// MARK: Deployment

func deploymentSnippet(router: Router) async throws {
    // snippet: docc-service
    let logger = Logger(label: "notes")
    var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
    configuration.limits.maxBodyBytes = 1 << 20
    configuration.maxConnections = 4096
    let service = HTTPService(configuration: configuration, responder: try router.build(), gracePeriod: .seconds(20), logger: logger)
    // SIGTERM (what systemd and Kubernetes send) drains: in-flight requests finish, idle connections close.
    let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    try await group.run()
    // end snippet
}
