import HTTPChat
import Logging

struct Note: Codable, Sendable {
    var id: Int
    var text: String
}

actor NoteStore {
    private var notes = [1: Note(id: 1, text: "hello")]
    func note(_ id: Int) -> Note? { notes[id] }
}

let store = NoteStore()
let router = Router()
router.use(RequestLogger(logger: Logger(label: "access")))      // middleware sees every request, 404s too
router.get("/health") { _ in .text("ok") }                      // does not await: answered on the event loop
router.group("/api") { api in
    api.use(CORS())                                             // answers browsers' preflights for /api too
    api.get("/notes/:id") { request in                          // awaits: runs as a task on the same loop
        let id: Int = try request.parameters.require("id")      // 400 if it is not an Int
        guard let note = await store.note(id) else { throw HTTPError(.notFound, "no note \(id)") }
        return try .json(note)
    }
    api.post("/upload") { request in
        var total = 0
        for try await chunk in request.body { total += chunk.readableBytes }   // streamed, with backpressure
        return .text("\(total) bytes")
    }
}
let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8080 : 8080
let server = try await HTTPServer.start(
    configuration: ServerConfiguration(host: "127.0.0.1", port: port),
    responder: try router.build()                               // build() checks conflicts, then freezes
)
print("Listening on http://127.0.0.1:\(server.port)/")
try await server.waitUntilClosed()                              // server.shutdown(gracePeriod:) from elsewhere
