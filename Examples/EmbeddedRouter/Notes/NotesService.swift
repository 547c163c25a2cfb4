public import HTTPChat
import HTTPTypes
public import Logging
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A note.
public struct Note: Codable, Sendable, Equatable {
    /// Its id, assigned by the store.
    public var id: Int
    /// The title.
    public var title: String
    /// The text.
    public var body: String

    /// Creates a note.
    ///
    /// - Parameters:
    ///   - id: its id.
    ///   - title: the title.
    ///   - body: the text.
    public init(id: Int, title: String, body: String) {
        self.id = id
        self.title = title
        self.body = body
    }
}

/// What clients send to create or replace a note.
struct NoteInput: Codable {
    var title: String
    var body: String
}

/// The notes, in memory. An actor: handlers on any event loop may touch it.
public actor NoteStore {
    private var notes: [Int: Note] = [:]
    private var nextID = 1

    /// An empty store.
    public init() {}

    func all() -> [Note] { notes.values.sorted { $0.id < $1.id } }
    func get(_ id: Int) -> Note? { notes[id] }

    func create(_ input: NoteInput) -> Note {
        let note = Note(id: nextID, title: input.title, body: input.body)
        notes[note.id] = note
        nextID += 1
        return note
    }

    func replace(_ id: Int, with input: NoteInput) -> Note? {
        guard notes[id] != nil else { return nil }
        let note = Note(id: id, title: input.title, body: input.body)
        notes[id] = note
        return note
    }

    func delete(_ id: Int) -> Bool { notes.removeValue(forKey: id) != nil }
}

/// The notes service: how a Swift service embeds HTTPChat's router with middleware.
///
/// `GET /notes`, `POST /notes`, `GET|PUT|DELETE /notes/:id`, plus `GET /health`.
public enum NotesService {
    /// The largest request body accepted, in bytes.
    public static let maxBody = 64 * 1024

    /// The service's routes, ready to build.
    ///
    /// - Parameters:
    ///   - store: where notes live.
    ///   - logger: the access log.
    /// - Returns: the router (call `build()`).
    public static func router(store: NoteStore, logger: Logger) -> Router {
        let router = Router()
        router.use(RequestLogger(logger: logger))
        router.get("/health") { _ in .text("ok") }
        router.group("/notes") { notes in
            notes.use(CORS())
            notes.get("/") { _ in try Response.json(await store.all()) }
            notes.post("/") { request in
                let note = await store.create(try await decode(request))
                var response = try Response.json(note, status: .created)
                response.headerFields[.location] = "/notes/\(note.id)"
                return response
            }
            notes.get("/:id") { request in
                let id: Int = try request.parameters.require("id")
                guard let note = await store.get(id) else { throw HTTPError(.notFound, "no note \(id)") }
                return try Response.json(note)
            }
            notes.put("/:id") { request in
                let id: Int = try request.parameters.require("id")
                guard let note = await store.replace(id, with: try await decode(request)) else {
                    throw HTTPError(.notFound, "no note \(id)")
                }
                return try Response.json(note)
            }
            notes.delete("/:id") { request in
                let id: Int = try request.parameters.require("id")
                guard await store.delete(id) else { throw HTTPError(.notFound, "no note \(id)") }
                return Response(status: .noContent)
            }
        }
        return router
    }

    static func decode(_ request: Request) async throws -> NoteInput {
        guard let type = request.headerFields[.contentType], type.lowercased().hasPrefix("application/json") else {
            throw HTTPError(.unsupportedMediaType, "send application/json")
        }
        let body = try await request.body.collect(upTo: maxBody)
        do {
            return try JSONDecoder().decode(NoteInput.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, "expected {\"title\": string, \"body\": string}")
        }
    }
}
