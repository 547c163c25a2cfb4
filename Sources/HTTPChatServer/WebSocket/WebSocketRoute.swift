import HTTPChatCore
import HTTPTypes

extension RouteBuilder {
    /// A WebSocket endpoint (RFC 6455) at `pattern`: a GET with a valid opening handshake is answered
    /// `101 Switching Protocols` and the connection becomes a WebSocket, served by `handler` with the client's
    /// messages (`inbound`) and a way to send (`outbound`). When the handler returns the server closes with
    /// 1000; when it throws, with 1011.
    ///
    /// A request that is no handshake gets 426 with `Upgrade: websocket`; a malformed one 400; another
    /// version 426 with `Sec-WebSocket-Version: 13`; an origin ``WebSocketOptions/acceptsOrigin`` refuses,
    /// 403. The group's middleware runs on the handshake as on any request.
    ///
    /// ```swift
    /// router.webSocket("/echo") { inbound, outbound in
    ///     for await message in inbound {
    ///         switch message {
    ///         case .text(let text): try await outbound.send(text: text)
    ///         case .binary(let bytes): try await outbound.send(binary: bytes)
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - pattern: the path pattern, as for any route.
    ///   - options: limits, timeouts, subprotocols, compression, the origin check.
    ///   - handler: runs for each connection, as a task on its event loop.
    public func webSocket(
        _ pattern: String,
        options: WebSocketOptions = WebSocketOptions(),
        _ handler: @escaping @Sendable (WebSocketInbound, WebSocketOutbound) async throws -> Void
    ) {
        on(.get, pattern) { (request: Request) throws -> Response in
            try WebSocketUpgrade.response(to: request, options: options, handler: handler)
        }
    }
}

/// The handshake's answer: checks, then the 101 whose protocol is a ``WebSocketConnection``.
enum WebSocketUpgrade {
    static func response(
        to request: Request, options: WebSocketOptions,
        handler: @escaping @Sendable (WebSocketInbound, WebSocketOutbound) async throws -> Void
    ) throws -> Response {
        let handshake = try WebSocketHandshake.negotiate(request, subprotocols: options.subprotocols, compression: options.compression)
        guard options.acceptsOrigin(request.headerFields[HTTPField.Name("Origin")!]) else {
            throw HTTPError(.forbidden, "this origin may not open a WebSocket here")
        }
        if let length = request.body.knownLength, length == 0 {} else {
            throw HTTPError(.badRequest, "a WebSocket handshake has no body")
        }
        return Response.switchingProtocols(headerFields: handshake.responseFields) {
            WebSocketConnection(request: request, handshake: handshake, options: options, handler: handler)
        }
    }
}
