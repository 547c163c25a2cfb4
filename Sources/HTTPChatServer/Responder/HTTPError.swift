public import HTTPTypes

/// An error a handler throws to answer with a status. Its ``message`` is sent to the client as the body, so it
/// must be written for the client; any other error becomes a bare 500 and its text is only logged.
///
/// ```swift
/// guard let note = store[id] else { throw HTTPError(.notFound, "no note \(id)") }
/// ```
public struct HTTPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The status to answer with.
    public var status: HTTPResponse.Status
    /// A message for the client (plain text); nil sends the status's reason phrase.
    public var message: String?
    /// Extra fields for the response, for example `Allow` with 405.
    public var headerFields: HTTPFields

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - status: the status.
    ///   - message: a message for the client.
    ///   - headerFields: extra fields.
    public init(_ status: HTTPResponse.Status, _ message: String? = nil, headerFields: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headerFields = headerFields
    }

    /// The status and message.
    public var description: String { "\(status.code) \(message ?? status.reasonPhrase)" }

    /// The response this error is answered with: the message (or reason phrase) as plain text.
    public var response: Response {
        var response = Response.text((message ?? status.reasonPhrase) + "\n", status: status)
        // Each name the error sets replaces the text response's fields of that name; repeated ones (two
        // `WWW-Authenticate` challenges) all go out.
        for name in Set(headerFields.map(\.name)) { response.headerFields[name] = nil }
        response.headerFields.append(contentsOf: headerFields)
        return response
    }
}
