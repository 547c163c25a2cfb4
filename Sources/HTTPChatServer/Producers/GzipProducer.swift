public import HTTPChatCore
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix

/// Compresses another producer's output into the gzip format as it is pulled (the design's gzip chunking
/// producer). Its length is unknown in advance, so a server sends it with `Transfer-Encoding: chunked`.
/// File regions from the wrapped producer are read on NIO's blocking-I/O pool, never on the event loop.
public struct GzipProducer<Inner: ChatProducer>: ChatProducer, @unchecked Sendable {
    // @unchecked: the deflater is used only from the one event loop that pulls this producer.
    /// File regions arrive as bytes, read in bounded chunks off the event loop.
    private var inner: FileRegionReader<Inner>
    private let deflater: Deflater
    private var done = false

    /// Wraps `inner`.
    ///
    /// - Parameters:
    ///   - inner: the producer whose bytes are compressed.
    ///   - level: zlib's level, 1 to 9 (default 6).
    public init(_ inner: Inner, level: Int32 = 6) {
        self.inner = FileRegionReader(inner)
        self.deflater = Deflater(level: level)
    }

    /// The next piece of compressed output.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if done { return .end }
        while true {
            switch inner.more(context) {
            case .bytes(let bytes):
                if let out = compress(bytes, context) { return .bytes(out) }
            case .notifying(let data, let promise):
                // The reader hands out bytes only; a region's promise comes with its last chunk.
                guard case .byteBuffer(let bytes) = data else {
                    promise.fail(ChannelError.operationUnsupported)
                    inner.cancel()
                    done = true
                    return .abort
                }
                let out = compress(bytes, context)
                promise.succeed(())
                if let out { return .bytes(out) }
            case .fileRegion:
                inner.cancel()  // the reader never hands one out
                done = true
                return .abort
            case .wait(let future):
                return .wait(future)
            case .park:
                return .park
            case .abort:
                done = true
                return .abort
            case .end:
                done = true
                var out = context.allocator.buffer(capacity: 64)
                deflater.compress(ByteBuffer(), finish: true, into: &out)
                return .bytes(out)
            }
        }
    }

    /// Compressed bytes for `bytes`, or nil while zlib holds them back.
    private func compress(_ bytes: ByteBuffer, _ context: ChatProducerContext) -> ByteBuffer? {
        var out = context.allocator.buffer(capacity: bytes.readableBytes / 2 + 64)
        deflater.compress(bytes, finish: false, into: &out)
        return out.readableBytes > 0 ? out : nil
    }

    /// Cancels the wrapped producer.
    public mutating func cancel() {
        inner.cancel()
    }
}
