import Foundation
import Greeter
import HTTPChat
import HTTPChatTesting
import HTTPTypes
import NIOCore
import OpenAPIRuntime
import Testing

@testable import HTTPChatOpenAPI

/// The greeter of Examples/OpenAPI (generated handlers) on a router, served in-process.
private func greeter() async throws -> InProcessConnection {
    let router = Router()
    try Greeter().register(on: OpenAPITransport(router))
    var limits = HTTPLimits()
    limits.maxBodyBytes = 64 << 20
    return try await InProcessConnection(responder: try router.build(), limits: limits)
}

private func get(_ target: String, on connection: InProcessConnection) async throws -> TestResponse {
    try await connection.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
    return try #require(try await connection.readResponse())
}

private func json(_ response: TestResponse) throws -> [String: String] {
    try JSONDecoder().decode([String: String].self, from: Data(response.text.utf8))
}

@Suite("OpenAPI transport: the generated greeter")
struct GreeterTests {
    @Test("GET /greet?name=Ada answers {\"message\":\"Hello, Ada!\"} as JSON; no name is World")
    func greets() async throws {
        let connection = try await greeter()
        let ada = try await get("/greet?name=Ada", on: connection)
        #expect(ada.status == 200)
        #expect(ada.headerFields[.contentType] == "application/json; charset=utf-8")
        #expect(try json(ada) == ["message": "Hello, Ada!"])
        #expect(try json(try await get("/greet", on: connection)) == ["message": "Hello, World!"])
        #expect(try json(try await get("/greet?name=Ada%20Lovelace", on: connection)) == ["message": "Hello, Ada Lovelace!"])
    }

    @Test("a path parameter reaches the handler decoded once; an unknown one is the document's 404 with its JSON body")
    func pathParameters() async throws {
        let connection = try await greeter()
        #expect(try json(try await get("/greetings/fr?name=Ada", on: connection)) == ["message": "Bonjour, Ada!"])
        let unknown = try await get("/greetings/xx?name=Ada", on: connection)
        #expect(unknown.status == 404)
        #expect(unknown.reason == "Not Found")
        #expect(try json(unknown) == ["reason": "no greeting in xx"])
        let encoded = try await get("/greetings/f%72?name=A", on: connection)  // %72 is r: decoded by the runtime
        #expect(try json(encoded) == ["message": "Bonjour, A!"])
        let percent = try await get("/greetings/100%25?name=A", on: connection)  // a literal % survives
        #expect(try json(percent) == ["reason": "no greeting in 100%"])
    }

    @Test("a segment mixing text and a variable matches only its own shape")
    func mixedSegments() async throws {
        let connection = try await greeter()
        let hey = try await get("/shout/hey.txt", on: connection)
        #expect(hey.status == 200)
        #expect(hey.text == "HEY")
        #expect(hey.headerFields[.contentType] == "text/plain")
        #expect(try await get("/shout/h%C3%A9.txt", on: connection).text == "HÉ")
        #expect(try await get("/shout/a.b.txt", on: connection).text == "A.B")
        #expect(try await get("/shout/hey.json", on: connection).status == 404)
        #expect(try await get("/shout/.txt", on: connection).status == 404)
    }

    @Test("the runtime's errors are answered as it says: a missing required parameter 400, a wrong body type 415; an unknown method 405")
    func runtimeErrors() async throws {
        let connection = try await greeter()
        #expect(try await get("/greetings/fr", on: connection).status == 400)
        try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        #expect(try await connection.readResponse()?.status == 415)
        try await connection.send("DELETE /greet HTTP/1.1\r\nHost: x\r\n\r\n")
        let delete = try #require(try await connection.readResponse())
        #expect(delete.status == 405)
        #expect(delete.headerFields[.allow] == "GET, HEAD")
    }

    @Test("POST /echo streams: the answer's head and first bytes go out before the request body has ended")
    func echoStreamsBothWays() async throws {
        let connection = try await greeter()
        try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        try await connection.send("5\r\nfirst\r\n")
        var seen = ""
        for _ in 0..<500 where !seen.contains("first") {
            seen = try await connection.pendingOutput()
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(seen.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(seen)")
        #expect(seen.contains("first"), "the first chunk did not come back before the body ended: \(seen)")
        try await connection.send("6\r\nsecond\r\n0\r\n\r\n")
        let response = try #require(try await connection.readResponse())
        #expect(response.text == "firstsecond")
    }

    @Test("a 3 MiB binary body comes back byte for byte, with its length")
    func echoesLargeBodies() async throws {
        let connection = try await greeter()
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var request = ByteBuffer(string: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: \(bytes.count)\r\n\r\n")
        request.writeBytes(bytes)
        try await connection.send(request)
        let response = try #require(try await connection.readResponse(timeout: .seconds(30)))
        #expect(response.status == 200)
        #expect(response.headerFields[.contentLength] == String(bytes.count))
        #expect(Array(response.body.readableBytesView) == bytes)
    }
}

/// Handwritten operations on the transport: errors and middleware.
@Suite("OpenAPI transport")
struct OpenAPITransportTests {
    struct Teapot: Error, HTTPResponseConvertible {
        var httpStatus: HTTPResponse.Status { .init(code: 418, reasonPhrase: "I'm a teapot") }
        var httpHeaderFields: HTTPFields { [.retryAfter: "5"] }
        var httpBody: HTTPBody? { HTTPBody("short and stout") }
    }

    struct Unexpected: Error {}

    private func site(_ configure: (OpenAPITransport) throws -> Void) async throws -> InProcessConnection {
        let router = Router()
        router.use(try ResponseHeaders(["X-Served-By: httpchat"]))
        try configure(OpenAPITransport(router.group("/api")))
        return try await InProcessConnection(responder: try router.build())
    }

    @Test("an HTTPError keeps its status, an HTTPResponseConvertible error is its response, anything else a 500; middleware runs around each")
    func errors() async throws {
        let connection = try await site { transport in
            try transport.register({ _, _, _ in throw HTTPError(.forbidden) }, method: .get, path: "/forbidden")
            try transport.register({ _, _, _ in throw Teapot() }, method: .get, path: "/teapot")
            try transport.register({ _, _, _ in throw Unexpected() }, method: .get, path: "/boom")
            try transport.register({ request, _, metadata in
                (HTTPResponse(status: .ok), HTTPBody("\(request.path ?? "") \(metadata.pathParameters["id"] ?? "")"))
            }, method: .get, path: "/items/{id}")
        }
        let forbidden = try await get("/api/forbidden", on: connection)
        #expect(forbidden.status == 403)
        #expect(forbidden.headerFields[HTTPField.Name("X-Served-By")!] == "httpchat")
        let teapot = try await get("/api/teapot", on: connection)
        #expect(teapot.status == 418)
        #expect(teapot.headerFields[.retryAfter] == "5")
        #expect(teapot.text == "short and stout")
        #expect(try await get("/api/boom", on: connection).status == 500)
        let item = try await get("/api/items/a%20b?x=1", on: connection)
        #expect(item.text == "/api/items/a%20b?x=1 a%20b")
        #expect(item.headerFields[HTTPField.Name("X-Served-By")!] == "httpchat")
    }

    @Test("operations whose paths differ only inside a segment share a route, the most literal first")
    func sharedRoutes() async throws {
        let connection = try await site { transport in
            try transport.register({ _, _, m in (HTTPResponse(status: .ok), HTTPBody("any \(m.pathParameters["n"] ?? "")")) }, method: .get, path: "/f/{n}")
            try transport.register({ _, _, m in (HTTPResponse(status: .ok), HTTPBody("zip \(m.pathParameters["n"] ?? "")")) }, method: .get, path: "/f/{n}.zip")
            try transport.register({ _, _, m in
                (HTTPResponse(status: .ok), HTTPBody("\(m.pathParameters["a"] ?? "")+\(m.pathParameters["b"] ?? "")"))
            }, method: .get, path: "/pair/{a}-{b}.txt")
        }
        #expect(try await get("/api/f/x.zip", on: connection).text == "zip x")
        #expect(try await get("/api/f/x.tar", on: connection).text == "any x.tar")
        #expect(try await get("/api/pair/left-right.txt", on: connection).text == "left+right")
        #expect(try await get("/api/pair/left.txt", on: connection).status == 404)
        // Read as the router reads paths: empty and `.` segments do not count, `..` is refused.
        #expect(try await get("/api//f/./x.zip", on: connection).text == "zip x")
        #expect(try await get("/api/f/%2e/x.zip", on: connection).text == "zip x")
        #expect(try await get("/api/f/../f/x.zip", on: connection).status == 400)
    }

    @Test("templates are checked when registered", arguments: ["pets", "/pets/{", "/pets/{}", "/a/{x}/{x}", "/a/{x}{y}", "/a/b}"])
    func invalidTemplates(template: String) throws {
        #expect(throws: OpenAPITransportError.self) { try PathTemplate(template) }
    }

    @Test("router patterns: whole variables are parameters, mixed segments positional ones")
    func patterns() throws {
        #expect(try PathTemplate("/").routerPattern == "/")
        #expect(try PathTemplate("/pets/{petId}").routerPattern == "/pets/:_1")
        #expect(try PathTemplate("/pets/{petId}/photo.{ext}").routerPattern == "/pets/:_1/:_2")
        let template = try PathTemplate("/pets/{petId}/photo.{ext}")
        #expect(template.match(["pets", "7", "photo.png"]) == ["petId": "7", "ext": "png"])
        #expect(try PathTemplate("/").match([]) == [:])
        #expect(OpenAPITransport.rawSegments("/a//b/./c/%2E/d%2Fe/") == ["a", "b", "c", "d%2Fe"])
        #expect(OpenAPITransport.rawSegments("/a\u{06DD}/b") == ["a\u{06DD}", "b"])
        #expect(template.match(["pets", "7", "photo."]) == nil)
        #expect(template.match(["pets", "7"]) == nil)
        #expect(template.match(["api", "v1", "pets", "8", "photo.gif"]) == ["petId": "8", "ext": "gif"])  // under a group
    }
}
