public import HTTPChatCore
public import HTTPChatServer
public import HTTPTypes
import NIOConcurrencyHelpers
public import NIOCore

/// A WebSocket client on an ``InProcessConnection``: the opening handshake, then masked frames to the server
/// and its frames back, parsed, with the connection's clock under the test's control.
///
/// ```swift
/// let socket = try await InProcessWebSocket.connect(to: try router.build(), path: "/echo")
/// try await socket.send(text: "hello")
/// let message = try await socket.receiveMessage()   // .text("hello")
/// ```
public final class InProcessWebSocket: Sendable {
    /// The connection under the socket.
    public let connection: InProcessConnection
    /// The server's `101 Switching Protocols`.
    public let handshake: TestResponse
    private let pending = NIOLockedValueBox(ByteBuffer())

    private init(connection: InProcessConnection, handshake: TestResponse) {
        self.connection = connection
        self.handshake = handshake
    }

    /// Why a WebSocket client could not go on.
    public struct Failure: Error, CustomStringConvertible {
        /// What happened.
        public var description: String
    }

    /// Opens a connection to `responder` and performs the opening handshake for `path`.
    ///
    /// - Parameters:
    ///   - responder: the server's responder (a router with a `webSocket` route, say).
    ///   - path: the request target.
    ///   - headerFields: more fields for the handshake (`Sec-WebSocket-Protocol`, `Origin`,
    ///     `Sec-WebSocket-Extensions`, ...).
    ///   - limits: the connection's limits.
    /// - Returns: the socket.
    /// - Throws: ``Failure`` when the server does not answer 101 (the response is in the message).
    public static func connect(
        to responder: any HTTPResponder, path: String, headerFields: HTTPFields = [:], limits: HTTPLimits = HTTPLimits()
    ) async throws -> InProcessWebSocket {
        let connection = try await InProcessConnection(responder: responder, limits: limits)
        var head = "GET \(path) HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for field in headerFields { head += "\(field.name): \(field.value)\r\n" }
        try await connection.send(head + "\r\n")
        guard let response = try await connection.readResponse(head: true), response.status == 101 else {
            throw Failure(description: "the handshake was not accepted: \(try await connection.pendingOutput())")
        }
        return InProcessWebSocket(connection: connection, handshake: response)
    }

    /// Sends a text message in one masked frame.
    public func send(text: String) async throws {
        try await send(WebSocketFrame(opcode: .text, payload: ByteBuffer(string: text)))
    }

    /// Sends a binary message in one masked frame.
    public func send(binary: ByteBuffer) async throws {
        try await send(WebSocketFrame(opcode: .binary, payload: binary))
    }

    /// Sends one frame, masked as a client must.
    public func send(_ frame: WebSocketFrame) async throws {
        var bytes = ByteBuffer()
        frame.write(into: &bytes, mask: (0x37, 0xFA, 0x21, 0x3D))
        try await connection.send(bytes)
    }

    /// Sends bytes as they are (for frames a well-behaved client would not send).
    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await connection.send(ByteBuffer(bytes: bytes))
    }

    /// The next frame from the server, or nil when none came in `timeout` (real time, default 30 s) or the connection closed.
    public func receive(timeout: Duration = .seconds(30)) async throws -> WebSocketFrame? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let closed = !connection.isOpen  // before the drain, or a frame written just before a close is lost
            var more = try await connection.takeOutput()
            let frame = try pending.withLockedValue { buffer -> WebSocketFrame? in
                buffer.writeBuffer(&more)
                return try Self.parse(&buffer)
            }
            if let frame { return frame }
            if closed || clock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// The next message from the server, its fragments joined; control frames before it are skipped.
    public func receiveMessage(timeout: Duration = .seconds(30)) async throws -> WebSocketMessage? {
        var bytes = ByteBuffer()
        var opcode: WebSocketOpcode?
        while let frame = try await receive(timeout: timeout) {
            if frame.opcode.isControl { continue }
            if frame.opcode != .continuation { opcode = frame.opcode }
            var payload = frame.payload
            bytes.writeBuffer(&payload)
            if frame.fin { return opcode == .text ? .text(String(buffer: bytes)) : .binary(bytes) }
        }
        return nil
    }

    /// Takes one server frame (unmasked) from the front of `buffer`, or returns nil when it is not all there.
    ///
    /// - Parameter buffer: bytes from the server; the frame's bytes are consumed.
    /// - Returns: the frame, or nil for more bytes.
    /// - Throws: ``Failure`` for a masked frame or an unknown opcode.
    public static func parse(_ buffer: inout ByteBuffer) throws -> WebSocketFrame? {
        var view = buffer
        guard let first = view.readInteger(as: UInt8.self), let second = view.readInteger(as: UInt8.self) else { return nil }
        guard second & 0x80 == 0 else { throw Failure(description: "the server masked a frame") }
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = view.readInteger(as: UInt16.self) else { return nil }
            length = Int(extended)
        } else if length == 127 {
            guard let extended = view.readInteger(as: UInt64.self) else { return nil }
            length = Int(extended)
        }
        guard let payload = view.readSlice(length: length) else { return nil }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else { throw Failure(description: "opcode \(first & 0x0F)") }
        buffer = view
        return WebSocketFrame(fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, opcode: opcode, payload: ByteBuffer(buffer: payload))
    }
}
