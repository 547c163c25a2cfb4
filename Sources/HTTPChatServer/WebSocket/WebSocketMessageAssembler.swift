public import NIOCore

/// A whole WebSocket message.
public enum WebSocketMessage: Sendable, Hashable {
    /// A text message (checked UTF-8).
    case text(String)
    /// A binary message.
    case binary(ByteBuffer)
}

/// Turns client frames into messages and control events (RFC 6455 §5.4-5.5): fragments joined, control frames
/// taken between them, text checked as UTF-8 frame by frame (a message stops at its first bad byte, 1007),
/// messages bounded (1009), and permessage-deflate's compressed messages inflated within the same bound.
package struct WebSocketMessageAssembler {
    /// What a frame amounted to.
    package enum Event: Equatable {
        case message(WebSocketMessage)
        case ping(ByteBuffer)
        case pong(ByteBuffer)
        /// A close frame: its code (nil when it had none) and reason.
        case close(WebSocketCloseCode?, String)
    }

    private struct Partial {
        var opcode: WebSocketOpcode
        var compressed: Bool
        var bytes: ByteBuffer
        var utf8 = UTF8Validator()
    }

    package let maxMessageBytes: Int
    private let inflater: MessageInflater?
    private var partial: Partial?

    package init(maxMessageBytes: Int, inflater: MessageInflater? = nil) {
        self.maxMessageBytes = maxMessageBytes
        self.inflater = inflater
    }

    package mutating func take(_ frame: WebSocketFrame) throws(WebSocketProtocolError) -> Event? {
        switch frame.opcode {
        case .ping: return .ping(frame.payload)
        case .pong: return .pong(frame.payload)
        case .close: return try Self.close(frame.payload)
        case .text, .binary:
            guard partial == nil else {
                throw WebSocketProtocolError(.protocolError, "a new message began before the last one ended")
            }
            if frame.rsv1 && inflater == nil {
                throw WebSocketProtocolError(.protocolError, "RSV1 without permessage-deflate")
            }
            partial = Partial(opcode: frame.opcode, compressed: frame.rsv1, bytes: ByteBuffer())
            return try append(frame)
        case .continuation:
            guard partial != nil else { throw WebSocketProtocolError(.protocolError, "a continuation with no message") }
            guard !frame.rsv1 else { throw WebSocketProtocolError(.protocolError, "RSV1 on a continuation frame") }
            return try append(frame)
        }
    }

    private mutating func append(_ frame: WebSocketFrame) throws(WebSocketProtocolError) -> Event? {
        guard var message = partial else { return nil }
        partial = nil  // so that the buffer is not shared while it grows
        let before = message.bytes.readableBytes
        if message.compressed, let inflater {
            do {
                try inflater.inflate(frame.payload, last: frame.fin, into: &message.bytes, limit: maxMessageBytes)
            } catch .tooLarge {
                throw WebSocketProtocolError(.messageTooBig, "a message inflating past \(maxMessageBytes) bytes")
            } catch {
                throw WebSocketProtocolError(.invalidPayload, "compressed data that does not inflate")
            }
        } else {
            guard before + frame.payload.readableBytes <= maxMessageBytes else {
                throw WebSocketProtocolError(.messageTooBig, "a message of more than \(maxMessageBytes) bytes")
            }
            var payload = frame.payload
            message.bytes.writeBuffer(&payload)
        }
        if message.opcode == .text {
            let added = message.bytes.readableBytesView.dropFirst(before)
            guard message.utf8.take(added) else { throw WebSocketProtocolError(.invalidPayload, "text that is not UTF-8") }
        }
        guard frame.fin else {
            partial = message
            return nil
        }
        if message.opcode == .text {
            guard message.utf8.isComplete else { throw WebSocketProtocolError(.invalidPayload, "text ending mid-character") }
            return .message(.text(String(buffer: message.bytes)))
        }
        return .message(.binary(message.bytes))
    }

    /// A close frame's code and reason (RFC 6455 §5.5.1, §7.4): none, or a sendable code and a UTF-8 reason.
    static func close(_ payload: ByteBuffer) throws(WebSocketProtocolError) -> Event {
        var payload = payload
        guard payload.readableBytes > 0 else { return .close(nil, "") }
        guard let raw = payload.readInteger(as: UInt16.self) else {
            throw WebSocketProtocolError(.protocolError, "a close frame of one byte")
        }
        let code = WebSocketCloseCode(rawValue: raw)
        guard code.isSendable else { throw WebSocketProtocolError(.protocolError, "close code \(raw) may not be sent") }
        var validator = UTF8Validator()
        guard validator.take(payload.readableBytesView), validator.isComplete else {
            throw WebSocketProtocolError(.invalidPayload, "a close reason that is not UTF-8")
        }
        return .close(code, String(buffer: payload))
    }
}
