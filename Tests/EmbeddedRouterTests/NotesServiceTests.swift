import EmbeddedRouter
import HTTPChat
import HTTPChatTesting
import HTTPTypes
import Logging
import NIOCore
import TestSupport
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite("EmbeddedRouter notes service")
struct NotesServiceTests {
    static func table() throws -> RouteTable {
        try NotesService.router(store: NoteStore(), logger: Logger(label: "test")).build()
    }

    static func request(_ method: HTTPRequest.Method, _ target: String, json: String? = nil) -> Request {
        var fields = HTTPFields()
        if json != nil { fields[.contentType] = "application/json" }
        return Request(method: method, target: target, headerFields: fields, body: json.map { RequestBody(string: $0) } ?? .empty)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: Response) async throws -> T {
        try JSONDecoder().decode(type, from: Data(try await response.body.collect().readableBytesView))
    }

    @Test("create, read, list, replace and delete a note, in-process")
    func crud() async throws {
        let t = try Self.table()
        let created = try await t.respond(to: Self.request(.post, "/notes", json: #"{"title":"t","body":"b"}"#))
        #expect(created.status == .created)
        #expect(created.headerFields[.location] == "/notes/1")
        #expect(try await Self.decode(Note.self, created) == Note(id: 1, title: "t", body: "b"))
        let got = try await t.respond(to: Self.request(.get, "/notes/1"))
        #expect(try await Self.decode(Note.self, got) == Note(id: 1, title: "t", body: "b"))
        let replaced = try await t.respond(to: Self.request(.put, "/notes/1", json: #"{"title":"t2","body":"b2"}"#))
        #expect(try await Self.decode(Note.self, replaced) == Note(id: 1, title: "t2", body: "b2"))
        _ = try await t.respond(to: Self.request(.post, "/notes", json: #"{"title":"second","body":""}"#))
        let list = try await t.respond(to: Self.request(.get, "/notes"))
        #expect(try await Self.decode([Note].self, list) == [Note(id: 1, title: "t2", body: "b2"), Note(id: 2, title: "second", body: "")])
        let deleted = try await t.respond(to: Self.request(.delete, "/notes/1"))
        #expect(deleted.status == .noContent)
        await #expect(throws: HTTPError(.notFound, "no note 1")) { try await t.respond(to: Self.request(.get, "/notes/1")) }
    }

    @Test("bad input gets 400, 415, 404 and 405 with Allow")
    func errors() async throws {
        let t = try Self.table()
        let badJSON = await #expect(throws: HTTPError.self) { try await t.respond(to: Self.request(.post, "/notes", json: "{")) }
        #expect(badJSON?.status == .badRequest, "malformed JSON: got \(String(describing: badJSON)), want 400")
        let notJSON = await #expect(throws: HTTPError.self) {
            try await t.respond(to: Request(method: .post, target: "/notes", body: RequestBody(string: "x")))
        }
        #expect(notJSON?.status == .unsupportedMediaType, "no JSON content type: got \(String(describing: notJSON)), want 415")
        let badID = await #expect(throws: HTTPError.self) { try await t.respond(to: Self.request(.get, "/notes/abc")) }
        #expect(badID?.status == .badRequest, "a non-numeric id: got \(String(describing: badID)), want 400")
        let missing = await #expect(throws: HTTPError.self) { try await t.respond(to: Self.request(.get, "/notes/99")) }
        #expect(missing?.status == .notFound, "no such note: got \(String(describing: missing)), want 404")
        let wrongMethod = await #expect(throws: HTTPError.self) { try await t.respond(to: Self.request(.patch, "/notes/1")) }
        #expect(wrongMethod?.status == .methodNotAllowed, "PATCH: got \(String(describing: wrongMethod)), want 405")
        #expect(wrongMethod?.headerFields[.allow] == "DELETE, GET, HEAD, PUT")
    }

    @Test("a browser's preflight for a path in the CORS group is answered with the methods routed there; plain OPTIONS stays 405")
    func preflight() async throws {
        let table = try Self.table()
        var ask = Self.request(.options, "/notes/1")
        ask.headerFields[.origin] = "https://app.example"
        ask.headerFields[.accessControlRequestMethod] = "PUT"
        ask.headerFields[.accessControlRequestHeaders] = "content-type"
        let answer = try await table.respond(to: ask)
        #expect(answer.status == .noContent)
        #expect(answer.headerFields[.accessControlAllowOrigin] == "*")
        #expect(answer.headerFields[.accessControlAllowMethods] == "GET, HEAD, PUT, DELETE", "\(answer.headerFields)")
        #expect(answer.headerFields[.accessControlAllowHeaders] == "content-type")
        var list = ask
        list.target = "/notes/"
        let listAnswer = try await table.respond(to: list)
        #expect(listAnswer.headerFields[.accessControlAllowMethods] == "GET, HEAD, POST", "\(listAnswer.headerFields)")
        // Without a preflight's fields, OPTIONS is a method with no route here: 405 with Allow.
        do {
            _ = try await table.respond(to: Self.request(.options, "/notes/1"))
            Issue.record("OPTIONS without a preflight was answered")
        } catch let error as HTTPError {
            #expect(error.status == .methodNotAllowed)
            #expect(error.headerFields[.allow] == "DELETE, GET, HEAD, PUT")
        }
        // A path outside the group (no CORS there): 405 as before, and 404 for no route at all.
        await #expect(throws: HTTPError.self) { try await table.respond(to: Self.request(.options, "/health")) }
    }

    @Test("live: curl's preflight and then the cross-origin PUT, as a browser sends them")
    func preflightLive() async throws {
        let server = try await HTTPServer.start(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: try Self.table()
        )
        let url = "http://127.0.0.1:\(server.port)"
        _ = try await curl(["-s", "-X", "POST", "-H", "Content-Type: application/json", "--data", #"{"title":"a","body":"b"}"#, "\(url)/notes"])
        let preflight = try await curl(["-s", "-i", "-X", "OPTIONS", "-H", "Origin: https://app.example",
                                        "-H", "Access-Control-Request-Method: PUT", "\(url)/notes/1"])
        #expect(preflight.hasPrefix("HTTP/1.1 204"), "\(preflight)")
        #expect(preflight.contains("Access-Control-Allow-Methods: GET, HEAD, PUT, DELETE\r\n"), "\(preflight)")
        let put = try await curl(["-s", "-i", "-X", "PUT", "-H", "Origin: https://app.example", "-H", "Content-Type: application/json",
                                  "--data", #"{"title":"c","body":"d"}"#, "\(url)/notes/1"])
        #expect(put.hasPrefix("HTTP/1.1 200"), "\(put)")
        #expect(put.contains("Access-Control-Allow-Origin: *\r\n"), "\(put)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("served live: a JSON round trip over a real socket with CORS headers")
    func live() async throws {
        let server = try await HTTPServer.start(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: try Self.table()
        )
        let url = "http://127.0.0.1:\(server.port)"
        let post = try await curl(["-s", "-i", "-X", "POST", "-H", "Content-Type: application/json", "-H", "Origin: https://x.example",
                                   "--data", #"{"title":"live","body":"yes"}"#, "\(url)/notes"])
        #expect(post.contains("HTTP/1.1 201 Created"))
        #expect(post.lowercased().contains("access-control-allow-origin: *"))
        let get = try await curl(["-s", "\(url)/notes/1"])
        #expect(get.contains(#""title":"live""#))
        await server.shutdown(gracePeriod: .seconds(1))
    }
}

/// Runs curl and returns its output.
func curl(_ arguments: [String]) async throws -> String {
    try await blocking {
        try runProcess("/usr/bin/curl", arguments)
    }
}
