import HTTPChatCore
public import HTTPTypes

/// Middleware that sets fixed fields on every response, errors included (`httpserve --header`): security
/// policies such as `Content-Security-Policy` or `X-Frame-Options`, say. A field the response already has is
/// replaced, so the configured value is the one sent.
///
/// ```swift
/// let headers = try ResponseHeaders(["X-Frame-Options: DENY", "Content-Security-Policy: default-src 'self'"])
/// let site = files.wrapped(in: [headers])
/// ```
public struct ResponseHeaders: HTTPMiddleware {
    /// The fields, in order.
    public let fields: [HTTPField]

    /// Fields that frame the message or the connection: set by the server, never by configuration.
    static let refused: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
        "proxy-connection", "content-range", "date",
    ]

    /// Parses `Name: value` lines.
    ///
    /// - Parameter lines: each a field name (a token), a colon, and a value without control characters.
    /// - Throws: ``ResponseHeadersError`` naming the line and what is wrong with it.
    public init(_ lines: [String]) throws {
        fields = try lines.map(Self.parse)
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
        for field in fields { response.headerFields[field.name] = field.value }
        return response
    }
}

/// A configured field that cannot be sent.
public struct ResponseHeadersError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the field.
    public let description: String
    init(_ description: String) { self.description = description }
}
