public import HTTPChatCore
import NIOCore

/// Frames another producer's output with `Transfer-Encoding: chunked` (RFC 9112 §7.1), so a body of unknown
/// length can be sent on a persistent connection. Each piece becomes one chunk; the end becomes the last chunk.
public struct ChunkedEncodingProducer<Inner: ChatProducer>: ChatProducer {
    private var inner: Inner
    private var pending: [ChatProducerOutput] = []
    private var done = false

    /// Wraps `inner`.
    ///
    /// - Parameter inner: the producer whose output is framed.
    public init(_ inner: Inner) {
        self.inner = inner
    }

    /// The next framed piece.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if !pending.isEmpty { return pending.removeFirst() }
        if done { return .end }
        switch inner.more(context) {
        case .bytes(let bytes):
            guard bytes.readableBytes > 0 else { return .bytes(bytes) }
            var framed = context.allocator.buffer(capacity: bytes.readableBytes + 20)
            Self.writeChunkHeader(bytes.readableBytes, into: &framed)
            var body = bytes
            framed.writeBuffer(&body)
            framed.writeStaticString("\r\n")
            return .bytes(framed)
        case .fileRegion(let region):
            guard region.readableBytes > 0 else { return .bytes(ByteBuffer()) }
            var header = context.allocator.buffer(capacity: 20)
            Self.writeChunkHeader(region.readableBytes, into: &header)
            pending = [.fileRegion(region), .bytes(context.allocator.buffer(staticString: "\r\n"))]
            return .bytes(header)
        case .notifying(let data, let promise):
            guard data.readableBytes > 0 else { return .notifying(data, promise) }
            var header = context.allocator.buffer(capacity: 20)
            Self.writeChunkHeader(data.readableBytes, into: &header)
            pending = [.notifying(data, promise), .bytes(context.allocator.buffer(staticString: "\r\n"))]
            return .bytes(header)
        case .wait(let future):
            return .wait(future)
        case .park:
            return .park
        case .abort:
            done = true
            return .abort
        case .end:
            done = true
            return .bytes(context.allocator.buffer(staticString: "0\r\n\r\n"))
        }
    }

    /// Cancels the wrapped producer.
    public mutating func cancel() { inner.cancel() }

    static func writeChunkHeader(_ size: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(size, radix: 16))
        buffer.writeStaticString("\r\n")
    }
}
