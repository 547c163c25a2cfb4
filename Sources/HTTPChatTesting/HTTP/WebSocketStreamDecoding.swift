import HTTPChatCore
public import HTTPChatServer
public import NIOCore

/// What ``decodeWebSocketStream(_:maxFrameBytes:maxMessageBytes:compressed:)`` read.
public enum DecodedWebSocketEvent: Equatable, Sendable, CustomStringConvertible {
    /// A whole message.
    case message(WebSocketMessage)
    /// A ping with its payload.
    case ping([UInt8])
    /// A pong with its payload.
    case pong([UInt8])
    /// A close frame: its code (nil when it had none) and reason.
    case close(WebSocketCloseCode?, String)

    /// A short form for test messages.
    public var description: String {
        switch self {
        case .message(.text(let text)): return "text(\(text.debugDescription))"
        case .message(.binary(let bytes)): return "binary(\(bytes.readableBytes) bytes)"
        case .ping(let payload): return "ping(\(payload.count))"
        case .pong(let payload): return "pong(\(payload.count))"
        case .close(let code, let reason): return "close(\(code.map(\.description) ?? "none"), \(reason.debugDescription))"
        }
    }
}

/// Runs a ``/HTTPChatCore/ChatFramer``, a ``/HTTPChatServer/WebSocketFrameDecoder`` and the server's message assembly over `reads` of client
/// bytes, as an upgraded connection does, and returns the events up to the first error, with that error. The
/// shared driver of the WebSocket tests and the fuzz target.
///
/// - Parameters:
///   - reads: client frames (masked), cut into reads as a socket might deliver them.
///   - maxFrameBytes: the largest frame payload.
///   - maxMessageBytes: the largest message.
///   - compressed: whether permessage-deflate was agreed (default windows, context takeover).
/// - Returns: the events and the error that stopped decoding, if any.
public func decodeWebSocketStream(
    _ reads: [ByteBuffer], maxFrameBytes: Int = 1 << 20, maxMessageBytes: Int = 1 << 20, compressed: Bool = false
) -> (events: [DecodedWebSocketEvent], error: WebSocketProtocolError?) {
    var decoder = WebSocketFrameDecoder(maxFrameBytes: maxFrameBytes, allowsRSV1: compressed)
    var assembler = WebSocketMessageAssembler(
        maxMessageBytes: maxMessageBytes,
        inflater: compressed ? MessageInflater(windowBits: 15, contextTakeover: true) : nil
    )
    var framer = ChatFramer(terminator: decoder.terminator)
    var events: [DecodedWebSocketEvent] = []
    do throws(WebSocketProtocolError) {
        for read in reads {
            framer.append(read)
            while let event = try? framer.next() {
                switch event {
                case .data(let bytes): decoder.collect(bytes)
                case .terminator:
                    let frame = try decoder.terminatorFound()
                    framer.terminator = decoder.terminator
                    guard let frame, let decoded = try assembler.take(frame) else { continue }
                    switch decoded {
                    case .message(let message): events.append(.message(message))
                    case .ping(let payload): events.append(.ping(Array(payload.readableBytesView)))
                    case .pong(let payload): events.append(.pong(Array(payload.readableBytesView)))
                    case .close(let code, let reason): events.append(.close(code, reason))
                    }
                }
            }
        }
    } catch {
        return (events, error)
    }
    return (events, nil)
}
