import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("HTTP error and response constructors")
struct HTTPErrorTests {
    @Test("an HTTPError answers with its message, or the reason phrase, as plain text and a newline", arguments: [
        (HTTPError(.notFound), 404, "Not Found\n", "404 Not Found"),
        (HTTPError(.notFound, "no note 7"), 404, "no note 7\n", "404 no note 7"),
        (HTTPError(.conflict, ""), 409, "\n", "409 "),
        (HTTPError(.init(code: 422, reasonPhrase: "Unprocessable Content")), 422, "Unprocessable Content\n", "422 Unprocessable Content"),
        (HTTPError(.internalServerError, "line one\nline two"), 500, "line one\nline two\n", "500 line one\nline two"),
    ])
    func response(_ error: HTTPError, _ status: Int, _ body: String, _ description: String) async throws {
        let response = error.response
        #expect(response.status.code == status)
        #expect(response.headerFields[.contentType] == "text/plain; charset=utf-8")
        let got = String(buffer: try await response.body.collect())
        #expect(got == body, "got \(got.debugDescription), want \(body.debugDescription)")
        #expect(response.body.length == body.utf8.count)
        #expect(error.description == description, "got \(error.description.debugDescription)")
    }

    @Test("an HTTPError's fields are added to its response; one named like the defaults replaces them")
    func extraFields() {
        let allow = HTTPError(.methodNotAllowed, headerFields: [.allow: "GET, HEAD"]).response
        #expect(allow.headerFields[.allow] == "GET, HEAD")
        #expect(allow.headerFields[.contentType] == "text/plain; charset=utf-8")
        let retry = HTTPError(.serviceUnavailable, headerFields: [.retryAfter: "1"]).response
        #expect(retry.headerFields[.retryAfter] == "1")
        let typed = HTTPError(.badRequest, "{}", headerFields: [.contentType: "application/json"]).response
        #expect(typed.headerFields[.contentType] == "application/json")
        #expect(typed.headerFields.count == 1, "got \(typed.headerFields)")
    }

    @Test("HTTPError compares status, message and fields")
    func equality() {
        #expect(HTTPError(.notFound) == HTTPError(.notFound))
        #expect(HTTPError(.notFound, "a") != HTTPError(.notFound, "b"))
        #expect(HTTPError(.notFound) != HTTPError(.gone))
        #expect(HTTPError(.notFound, headerFields: [.allow: "GET"]) != HTTPError(.notFound))
    }

    @Test("Response.text: UTF-8 plain text, the status given")
    func text() async throws {
        let response = Response.text("héllo", status: .accepted)
        #expect(response.status == .accepted)
        #expect(Array(response.headerFields) == [HTTPField(name: .contentType, value: "text/plain; charset=utf-8")])
        #expect(response.body.length == 6, "é is two bytes")
        #expect(String(buffer: try await response.body.collect()) == "héllo")
        #expect(Response.text("").body.length == 0)
        #expect(Response.text("x").status == .ok)
    }

    struct Note: Codable, Equatable {
        var id: Int
        var title: String
    }

    @Test("Response.json: the encoder's bytes as application/json")
    func json() async throws {
        let note = Note(id: 7, title: "a \"quoted\" title")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let response = try Response.json(note, status: .created, encoder: encoder)
        #expect(response.status == .created)
        #expect(Array(response.headerFields) == [HTTPField(name: .contentType, value: "application/json")])
        let body = try await response.body.collect()
        #expect(String(buffer: body) == #"{"id":7,"title":"a \"quoted\" title"}"#, "got \(String(buffer: body))")
        #expect(try JSONDecoder().decode(Note.self, from: Data(body.readableBytesView)) == note)
        #expect(response.body.length == body.readableBytes)
    }

    @Test("Response.json rethrows the encoder's error")
    func jsonError() {
        #expect(throws: EncodingError.self) { try Response.json(Double.nan) }
    }

    @Test("Response's defaults: 200, no fields, an empty body of length 0")
    func defaults() async throws {
        let response = Response()
        #expect(response.status == .ok)
        #expect(response.headerFields.isEmpty)
        #expect(response.body.length == 0)
        #expect(try await response.body.collect().readableBytes == 0)
        #expect(ResponseBody(string: "abc").length == 3)
        #expect(ResponseBody(bytes: ByteBuffer(string: "abcd")).bytes == ByteBuffer(string: "abcd"))
        #expect(ResponseBody(producer: BufferProducer(ByteBuffer(string: "x")), length: nil).length == nil)
        #expect(ResponseBody(producer: BufferProducer(ByteBuffer(string: "x")), length: 1).bytes == nil)
        #expect(ResponseBody.stream(length: 9) { _ in }.length == 9)
    }

    @Test("collect reads producers whole and throws aborted for one that aborts")
    func collectProducers() async throws {
        let pieces = ResponseBody(producer: ScriptedProducer([.text("ab"), .wait, .text(""), .text("cd")]), length: 4)
        #expect(String(buffer: try await pieces.collect()) == "abcd")
        let aborting = ResponseBody(producer: ScriptedProducer([.text("ab"), .abort]), length: nil)
        await #expect(throws: BodyWriterError.aborted) { try await aborting.collect() }
        let streamed = ResponseBody.stream { writer in
            try await writer.write("one ")
            try await writer.write(ByteBuffer())
            try await writer.write(ByteBuffer(string: "two"))
        }
        #expect(String(buffer: try await streamed.collect()) == "one two")
    }

    @Test("path parameters: the last capture of a name, converted or a 400")
    func parameters() throws {
        var p = Parameters()
        p.append("id", "42")
        p.append("name", "x y")
        p.append("id", "43")
        #expect(p["id"] == "43")
        #expect(p["missing"] == nil)
        #expect(p.names == ["id", "name", "id"])
        #expect(try p.require("id", as: Int.self) == 43)
        #expect(throws: HTTPError(.badRequest, "invalid path parameter name")) { try p.require("name", as: Int.self) }
        #expect(throws: HTTPError(.badRequest, "invalid path parameter gone")) { try p.require("gone", as: String.self) }
        var q = Parameters()
        q.append("id", "42")
        #expect(p != q)
        q.append("name", "x y")
        q.append("id", "43")
        #expect(p == q)
        #expect(p.hashValue == q.hashValue)
    }

    @Test("an error's repeated fields all go out (two WWW-Authenticate challenges), replacing the text's own")
    func repeatedFields() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"a\""))
        fields.append(HTTPField(name: .wwwAuthenticate, value: "Bearer"))
        fields.append(HTTPField(name: .contentType, value: "text/x-custom"))
        let response = HTTPError(.unauthorized, headerFields: fields).response
        #expect(response.headerFields[values: .wwwAuthenticate] == ["Basic realm=\"a\"", "Bearer"])
        #expect(response.headerFields[values: .contentType] == ["text/x-custom"])
    }
}
