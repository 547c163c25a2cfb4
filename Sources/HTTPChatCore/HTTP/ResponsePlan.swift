package import HTTPTypes

/// How one response goes on the wire, decided from the request and the response alone (no I/O): the framing
/// of its body (RFC 9112 §6), whether it carries one, and whether the connection stays open (§9.3). The
/// connection carries the plan out.
package struct ResponsePlan: Equatable {
    /// How the body is delimited.
    package var framing: ResponseHeadWriter.Framing
    /// What the `Connection` field says.
    package var connection: ResponseHeadWriter.ConnectionField
    /// Whether body bytes follow the head (not for HEAD, 1xx, 204, 304).
    package var sendsBody: Bool
    /// Whether the connection stays open after this response.
    package var persistent: Bool

    /// Plans a response.
    ///
    /// - Parameters:
    ///   - method: the request's method.
    ///   - version: the request's version.
    ///   - keepAlive: whether the request and the connection allow another request after this one.
    ///   - status: the final status (see ``isFinal(_:)``).
    ///   - bodyLength: the body's declared length, nil when unknown.
    /// - Returns: the plan.
    package static func make(
        method: HTTPRequest.Method, version: HTTPVersion, keepAlive: Bool, status: HTTPResponse.Status, bodyLength: Int?
    ) -> ResponsePlan {
        let code = status.code
        // RFC 9110 §15.3.5, §15.4.5: 204 and 304 have no content; 1xx never reaches here as a final answer.
        let bodyAllowed = code >= 200 && code != 204 && code != 304
        var persistent = keepAlive
        let framing: ResponseHeadWriter.Framing
        if !bodyAllowed {
            framing = .none
        } else if let bodyLength {
            framing = .length(bodyLength)
        } else if version == .http1_1 {
            framing = .chunked
        } else {
            framing = .untilClose  // HTTP/1.0 has no chunked coding: the close ends the body
            persistent = false
        }
        let connection: ResponseHeadWriter.ConnectionField =
            !persistent ? .close : (version == .http1_0 ? .keepAlive : .none)
        return ResponsePlan(
            framing: framing, connection: connection, sendsBody: bodyAllowed && method != .head, persistent: persistent
        )
    }

    /// Whether a handler may answer with `status` as the whole response: 200-599. A 1xx sent as the answer
    /// would make the client read the next response as this request's (RFC 9110 §15.2: interim responses
    /// precede a final one), a 101 would turn the connection into a tunnel (§7.8: only the server's upgrade
    /// path may send it), and a code outside 100-599 is no status (RFC 9112 §4: `3DIGIT`, §15: 1xx-5xx).
    ///
    /// - Parameter status: the status a responder returned.
    /// - Returns: whether it is a final status.
    package static func isFinal(_ status: HTTPResponse.Status) -> Bool {
        (200...599).contains(status.code)
    }
}
