import HTTPChatCore
import HTTPTypes

/// What an error thrown while answering a request becomes: the one place errors are mapped to a status
/// (STYLE §7). The connection answers with it, and every middleware that logs or decorates a failure
/// (``AccessLog``, ``RequestLogger``, ``CORS``) asks it instead of guessing, so a log line records the status
/// the client got.
///
/// - ``HTTPError``: its own ``HTTPError/response``; the connection stays open.
/// - ``HTTPParseError`` (a request body that could not be read: over ``HTTPLimits/maxBodyBytes``, a malformed
///   chunk, a body stalled or cut short, rethrown by the body's reader): its ``HTTPParseError/status``, and
///   the connection closes after it, since the rest of the request cannot be framed.
/// - Anything else: a bare 500. Its text is for the log only and never reaches the client.
struct ErrorResponse {
    /// The response the client is sent.
    let response: Response
    /// Whether the connection closes after the response: the request could not be read to its end.
    let closesConnection: Bool
    /// Whether the error is not one meant for the client (neither an ``HTTPError`` nor an
    /// ``HTTPParseError``): it is answered 500 and should be logged.
    let isUnexpected: Bool

    /// What `next` answers, or the response its error maps to, for a middleware that decorates every answer
    /// (a field on errors too). An error that must reach the connection (it closes after the answer, or logs
    /// an unexpected error) is rethrown: the connection answers it.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - next: the rest of the chain.
    /// - Returns: the response to decorate.
    /// - Throws: an ``HTTPParseError`` from reading the body.
    static func answer(_ request: Request, _ next: any HTTPResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            let mapped = ErrorResponse(error)
            guard !mapped.mustReachConnection else { throw error }
            return mapped.response
        }
    }

    /// Maps `error`.
    ///
    /// - Parameter error: what a responder or a middleware threw.
    init(_ error: any Error) {
        switch error {
        case let error as HTTPError:
            response = error.response
            closesConnection = false
            isUnexpected = false
        case let error as HTTPParseError:
            response = HTTPError(error.status).response
            closesConnection = true
            isUnexpected = false
        default:
            response = HTTPError(.internalServerError).response
            closesConnection = false
            isUnexpected = true
        }
    }

    /// The status the client is sent.
    var status: HTTPResponse.Status { response.status }

    /// Whether the error must travel on to the connection rather than be answered by a middleware: the
    /// connection has to close after the answer, or to log what went wrong. A middleware that turns errors
    /// into responses (``CORS``) rethrows these; one that only observes them (the loggers) always rethrows.
    var mustReachConnection: Bool { closesConnection || isUnexpected }
}
