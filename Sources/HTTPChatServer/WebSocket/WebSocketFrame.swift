public import HTTPChatCore
public import NIOCore

/// A WebSocket frame's opcode (RFC 6455 §5.2).
public enum WebSocketOpcode: UInt8, Sendable, Hashable {
    /// A further frame of a fragmented message.
    case continuation = 0x0
    /// The first frame of a text message.
    case text = 0x1
    /// The first frame of a binary message.
    case binary = 0x2
    /// The closing handshake.
    case close = 0x8
    /// A ping, to be answered with a pong.
    case ping = 0x9
    /// A pong.
    case pong = 0xA

    /// Whether this is a control frame (close, ping, pong): at most 125 bytes, never fragmented.
    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// One WebSocket frame, unmasked.
public struct WebSocketFrame: Sendable, Hashable {
    /// Whether this is the message's last frame.
    public var fin: Bool
    /// RSV1: for permessage-deflate, the message's first frame is compressed.
    public var rsv1: Bool
    /// The opcode.
    public var opcode: WebSocketOpcode
    /// The payload, unmasked.
    public var payload: ByteBuffer

    /// Creates a frame.
    ///
    /// - Parameters:
    ///   - fin: whether it ends its message (always for control frames).
    ///   - rsv1: the compression bit of permessage-deflate.
    ///   - opcode: the opcode.
    ///   - payload: the payload.
    public init(fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode, payload: ByteBuffer = ByteBuffer()) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }

    /// Appends the frame as a server sends it (RFC 6455 §5.2: unmasked, the shortest length encoding); with
    /// `mask`, masked as a client sends it.
    ///
    /// - Parameters:
    ///   - buffer: where the bytes go.
    ///   - mask: a client's masking key, or nil for a server's frame.
    public func write(into buffer: inout ByteBuffer, mask: (UInt8, UInt8, UInt8, UInt8)? = nil) {
        let length = payload.readableBytes
        buffer.writeInteger((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue as UInt8)
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        if length <= 125 {
            buffer.writeInteger(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            buffer.writeInteger(maskBit | 126 as UInt8)
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(maskBit | 127 as UInt8)
            buffer.writeInteger(UInt64(length))
        }
        guard let mask else {
            var payload = payload
            buffer.writeBuffer(&payload)
            return
        }
        let key = [mask.0, mask.1, mask.2, mask.3]
        buffer.writeBytes(key)
        var index = 0
        buffer.writeBytes(payload.readableBytesView.map { byte in
            defer { index += 1 }
            return byte ^ key[index & 3]
        })
    }

    /// The frame's bytes as a server sends them.
    public var serverBytes: ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: payload.readableBytes + 10)
        write(into: &buffer)
        return buffer
    }
}

/// A WebSocket close status code (RFC 6455 §7.4).
public struct WebSocketCloseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The code.
    public var rawValue: UInt16
    /// Wraps a code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection is fulfilled.
    public static let normalClosure = WebSocketCloseCode(rawValue: 1000)
    /// 1001: the endpoint is going away (a server shutting down, a page left).
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    /// 1002: a protocol error.
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    /// 1003: a message of a kind the endpoint cannot accept (binary where only text is expected, say).
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// 1007: a text message that is not UTF-8, or data inconsistent with its type.
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    /// 1008: a message that violates the endpoint's policy.
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    /// 1009: a frame or message too big to process.
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    /// 1011: the server met an unexpected condition (the handler threw).
    public static let internalError = WebSocketCloseCode(rawValue: 1011)

    /// Whether a peer may send this code in a close frame: 1000-1003, 1007-1014 and 3000-4999. The others are
    /// reserved (1004), never sent (1005, 1006, 1015: they describe the absence of a code or of a close), or
    /// unassigned.
    public var isSendable: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    /// The code in decimal.
    public var description: String { String(rawValue) }
}

/// Why a WebSocket connection was failed: the close code sent to the peer, and what was wrong (for logs).
public struct WebSocketProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The close code the peer is sent.
    public var code: WebSocketCloseCode
    /// What was wrong.
    public var detail: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the close code.
    ///   - detail: what was wrong.
    public init(_ code: WebSocketCloseCode, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// The code and the detail.
    public var description: String { "\(code): \(detail)" }
}

/// Reads client frames on the chat layer with count terminators only, as RFC 6455 §5.2 lays a frame out: 2
/// bytes of header; 0, 2 or 8 bytes of length; 4 bytes of mask; then the payload, a count known in advance.
/// Pure: bytes in through ``collect(_:)``, a frame out of ``terminatorFound()`` when one is complete; the
/// connection, the tests and the fuzz target drive it through a ``/HTTPChatCore/ChatFramer``.
///
/// Everything RFC 6455 requires a server to refuse is refused as the frame's header arrives, before its
/// payload is read: an unmasked frame, reserved bits without an extension that defines them, an unknown
/// opcode, a control frame longer than 125 bytes or fragmented, a length in more bytes than needed or with
/// the top bit set, and a frame longer than ``maxFrameBytes`` (1009).
public struct WebSocketFrameDecoder: Sendable {
    private enum State: Sendable {
        case header
        case extendedLength(first: UInt8, bytes: Int)
        case mask(first: UInt8, length: Int)
        case payload(first: UInt8, mask: UInt32, length: Int)
    }

    private var state = State.header
    private var collected = ByteBuffer()
    /// The largest payload of one frame.
    public let maxFrameBytes: Int
    /// Whether RSV1 may be set (permessage-deflate was negotiated).
    public let allowsRSV1: Bool

    /// A decoder for one connection's frames.
    ///
    /// - Parameters:
    ///   - maxFrameBytes: the largest payload of one frame (1009 beyond).
    ///   - allowsRSV1: whether permessage-deflate was negotiated (RSV1 means a compressed message).
    public init(maxFrameBytes: Int, allowsRSV1: Bool = false) {
        self.maxFrameBytes = maxFrameBytes
        self.allowsRSV1 = allowsRSV1
    }

    /// The terminator that frames the next piece: always a count.
    public var terminator: Terminator {
        switch state {
        case .header: return .count(2)
        case .extendedLength(_, let bytes): return .count(bytes)
        case .mask: return .count(4)
        case .payload(_, _, let length): return .count(length)
        }
    }

    /// Bytes of the current piece (any split).
    ///
    /// - Parameter bytes: the bytes.
    public mutating func collect(_ bytes: ByteBuffer) {
        guard collected.readableBytes > 0 else {
            collected = bytes  // the usual case, a piece in one read: taken as it is, not copied
            return
        }
        var bytes = bytes
        collected.writeBuffer(&bytes)
    }

    /// The current piece is complete.
    ///
    /// - Returns: a frame when this piece completed one.
    /// - Throws: ``WebSocketProtocolError`` with the close code the frame deserves.
    public mutating func terminatorFound() throws(WebSocketProtocolError) -> WebSocketFrame? {
        defer { collected = ByteBuffer() }  // the shared empty buffer: no allocation per piece
        switch state {
        case .header:
            guard let first = collected.readInteger(as: UInt8.self), let second = collected.readInteger(as: UInt8.self) else {
                throw WebSocketProtocolError(.protocolError, "short header")
            }
            try Self.check(first: first, allowsRSV1: allowsRSV1)
            guard second & 0x80 != 0 else { throw WebSocketProtocolError(.protocolError, "a client frame must be masked") }
            let short = Int(second & 0x7F)
            let isControl = first & 0x08 != 0
            if isControl && short > 125 {
                throw WebSocketProtocolError(.protocolError, "a control frame longer than 125 bytes")
            }
            switch short {
            case 126: state = .extendedLength(first: first, bytes: 2)
            case 127: state = .extendedLength(first: first, bytes: 8)
            default:
                try checkLength(short)
                state = .mask(first: first, length: short)
            }
            return nil
        case .extendedLength(let first, let bytes):
            let length: UInt64
            if bytes == 2 {
                length = UInt64(collected.readInteger(as: UInt16.self) ?? 0)
                guard length >= 126 else { throw WebSocketProtocolError(.protocolError, "a 16-bit length under 126") }
            } else {
                length = collected.readInteger(as: UInt64.self) ?? 0
                guard length >> 63 == 0 else { throw WebSocketProtocolError(.protocolError, "a 64-bit length with its top bit set") }
                guard length > 0xFFFF else { throw WebSocketProtocolError(.protocolError, "a 64-bit length under 65536") }
            }
            guard length <= UInt64(maxFrameBytes) else {
                throw WebSocketProtocolError(.messageTooBig, "a frame of \(length) bytes (the limit is \(maxFrameBytes))")
            }
            state = .mask(first: first, length: Int(length))
            return nil
        case .mask(let first, let length):
            let mask = collected.readInteger(as: UInt32.self) ?? 0
            guard length > 0 else {
                state = .header
                return Self.frame(first: first, payload: ByteBuffer())
            }
            state = .payload(first: first, mask: mask, length: length)
            return nil
        case .payload(let first, let mask, _):
            var payload = ByteBuffer()
            swap(&payload, &collected)
            // A payload taken from a read as it was shares the read buffer's storage: a small message a handler
            // keeps must not keep a large read buffer alive, so it is unmasked into storage of its own size, in
            // the one pass that reads it (unmasking in place would copy the shared storage first anyway).
            if payload.storageCapacity - payload.readableBytes > max(1024, payload.readableBytes) {
                var own = ByteBufferAllocator().buffer(capacity: payload.readableBytes)
                payload.withUnsafeReadableBytes { source in
                    _ = own.writeWithUnsafeMutableBytes(minimumWritableBytes: source.count) { target in
                        Self.unmask(source, into: target, mask: mask)
                        return source.count
                    }
                }
                payload = own
            } else {
                payload.withUnsafeMutableReadableBytes { Self.unmask($0, mask: mask) }
            }
            state = .header
            return Self.frame(first: first, payload: payload)
        }
    }

    /// XORs `bytes` with the 4-byte `mask` (its first byte the high one, as it came on the wire), eight bytes at
    /// a time, then the tail.
    static func unmask(_ bytes: UnsafeMutableRawBufferPointer, mask: UInt32) {
        unmask(UnsafeRawBufferPointer(bytes), into: bytes, mask: mask)
    }

    /// Writes `source` XORed with `mask` into `target` (at least as long; the two may be the same memory).
    static func unmask(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer, mask: UInt32) {
        guard let from = source.baseAddress, let to = target.baseAddress else { return }
        precondition(target.count >= source.count, "unmask: the target is shorter than the source")
        let inMemoryOrder = mask.bigEndian
        let wide = UInt64(inMemoryOrder) | UInt64(inMemoryOrder) << 32  // the mask twice, in memory order
        var index = 0
        while index + 8 <= source.count {
            let word = from.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            to.storeBytes(of: word ^ wide, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        withUnsafeBytes(of: inMemoryOrder) { key in
            while index < source.count {
                target[index] = source[index] ^ key[index & 3]
                index += 1
            }
        }
    }

    private func checkLength(_ length: Int) throws(WebSocketProtocolError) {
        guard length <= maxFrameBytes else {
            throw WebSocketProtocolError(.messageTooBig, "a frame of \(length) bytes (the limit is \(maxFrameBytes))")
        }
    }

    private static func check(first: UInt8, allowsRSV1: Bool) throws(WebSocketProtocolError) {
        let reserved = first & 0x70
        guard reserved == 0 || (reserved == 0x40 && allowsRSV1) else {
            throw WebSocketProtocolError(.protocolError, "reserved bits set without an extension for them")
        }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else {
            throw WebSocketProtocolError(.protocolError, "opcode \(first & 0x0F) is reserved")
        }
        if opcode.isControl {
            guard first & 0x80 != 0 else { throw WebSocketProtocolError(.protocolError, "a fragmented control frame") }
            guard reserved == 0 else { throw WebSocketProtocolError(.protocolError, "a compressed control frame") }
        }
    }

    private static func frame(first: UInt8, payload: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0,
            opcode: WebSocketOpcode(rawValue: first & 0x0F) ?? .binary,  // checked at the header
            payload: payload
        )
    }
}
