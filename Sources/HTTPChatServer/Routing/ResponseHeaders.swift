import HTTPChatCore
public import HTTPTypes

/// Fixed fields for every response: security policies such as `Content-Security-Policy` or
/// `X-Frame-Options`, say (`httpserve --header`). A name the response already has is replaced, so the
/// configured values are the ones sent; a name configured more than once is sent once per value, in order
/// (two `Link` fields stay two).
///
/// Two ways to use them. As ``ServerConfiguration/responseHeaders`` the connection sets them where it writes
/// every response head, so they are on every answer the server sends: the responder's, and the server's own
/// (400, 408, 413, 431 and 501 for requests that could not be read, `OPTIONS *`); that is what `httpserve`
/// does. As middleware they are on what the responders inside it answer.
///
/// ```swift
/// let headers = try ResponseHeaders(["X-Frame-Options: DENY", "Content-Security-Policy: default-src 'self'"])
/// let site = files.wrapped(in: [headers])
/// ```
///
/// Refused (``ResponseHeadersError``), because a fixed value would make a response say something false about
/// itself: the fields that frame the message or the connection (`Content-Length`, `Transfer-Encoding`,
/// `Connection`, `Keep-Alive`, `Upgrade`, `TE`, `Trailer`, `Proxy-Connection`, `Content-Range`, `Date`), and
/// those that describe the representation or are computed per response (`Content-Type`, `Content-Encoding`:
/// `identity` on a gzip body makes a client read compressed bytes as the file; `ETag`, `Last-Modified`: one
/// validator for every file makes a conditional request match the wrong file; `Vary`: replacing
/// `Vary: Accept-Encoding` lets a cache hand gzip to a client that did not ask for it).
public struct ResponseHeaders: HTTPMiddleware {
    /// The fields, in order.
    public let fields: [HTTPField]
    /// The configured names, each once, in order of first appearance.
    private let names: [HTTPField.Name]

    /// Fields set by the server or the responder, never by configuration (see the type's discussion).
    static let refused: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
        "proxy-connection", "content-range", "date",
        "content-type", "content-encoding", "etag", "last-modified", "vary",
    ]

    /// Parses `Name: value` lines.
    ///
    /// - Parameter lines: each a field name (a token), a colon, and a value without control characters.
    /// - Throws: ``ResponseHeadersError`` naming the line and what is wrong with it.
    public init(_ lines: [String]) throws {
        fields = try lines.map(Self.parse)
        var names: [HTTPField.Name] = []
        for field in fields where !names.contains(field.name) { names.append(field.name) }
        self.names = names
    }

    /// Sets the fields on `headerFields`: each configured name's own values replace what it held.
    ///
    /// - Parameter headerFields: a response's fields.
    public func apply(to headerFields: inout HTTPFields) {
        for name in names { headerFields[values: name] = [] }
        headerFields.append(contentsOf: fields)
    }

    static func parse(_ line: String) throws -> HTTPField {
        guard let colon = line.firstIndex(of: ":") else {
            throw ResponseHeadersError("'\(line)' is not 'Name: value'")
        }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingOWS()
        guard let fieldName = HTTPField.Name(name), !name.isEmpty, name.utf8.allSatisfy({ HTTPGrammar.isTokenByte[Int($0)] }) else {
            throw ResponseHeadersError("'\(name)' is not a field name (letters, digits and !#$%&'*+-.^_`|~ only)")
        }
        guard !refused.contains(fieldName.canonicalName) else {
            throw ResponseHeadersError("\(name) is set by the server and cannot be configured")
        }
        guard value.utf8.allSatisfy(HTTPGrammar.isValueByte) else {
            throw ResponseHeadersError("the value of \(name) holds a control character")
        }
        return HTTPField(name: fieldName, value: String(value))
    }

    /// The response from `next` (or its error's) with the fields set.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        var response = try await ErrorResponse.answer(request, next)
        apply(to: &response.headerFields)
        return response
    }
}

/// A configured field that cannot be sent.
public struct ResponseHeadersError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the field.
    public let description: String
    init(_ description: String) { self.description = description }
}
