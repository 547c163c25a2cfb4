public import HTTPChatCore
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix

/// Compresses another producer's output into the gzip format as it is pulled (the design's gzip chunking
/// producer). Its length is unknown in advance, so a server sends it with `Transfer-Encoding: chunked`.
/// File regions from the wrapped producer are read on NIO's blocking-I/O pool, never on the event loop.
public struct GzipProducer<Inner: ChatProducer>: ChatProducer, @unchecked Sendable {
    // @unchecked: the deflater is used only from the one event loop that pulls this producer.
    private var inner: Inner
    private let deflater: Deflater
    private var pendingRead: ResultBox?
    private var pendingPromise: EventLoopPromise<Void>?
    private var done = false

    /// Wraps `inner`.
    ///
    /// - Parameters:
    ///   - inner: the producer whose bytes are compressed.
    ///   - level: zlib's level, 1 to 9 (default 6).
    public init(_ inner: Inner, level: Int32 = 6) {
        self.inner = inner
        self.deflater = Deflater(level: level)
    }

    /// The next piece of compressed output.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if done { return .end }
        if let box = pendingRead {
            pendingRead = nil
            let promise = pendingPromise
            pendingPromise = nil
            switch box.take() {
            case .success(let bytes)?:
                promise?.succeed(())
                var out = context.allocator.buffer(capacity: bytes.readableBytes / 2 + 64)
                deflater.compress(bytes, finish: false, into: &out)
                if out.readableBytes > 0 { return .bytes(out) }
            case .failure(let error)?:
                promise?.fail(error)
                inner.cancel()
                done = true
                return .abort  // the client must not take a cut-short stream for a whole one
            case nil:
                break
            }
        }
        while true {
            switch inner.more(context) {
            case .bytes(let bytes):
                var out = context.allocator.buffer(capacity: bytes.readableBytes / 2 + 64)
                deflater.compress(bytes, finish: false, into: &out)
                if out.readableBytes > 0 { return .bytes(out) }
            case .fileRegion(let region):
                return read(region, notifying: nil, context)
            case .notifying(let data, let promise):
                switch data {
                case .byteBuffer(let bytes):
                    var out = context.allocator.buffer(capacity: bytes.readableBytes / 2 + 64)
                    deflater.compress(bytes, finish: false, into: &out)
                    promise.succeed(())
                    if out.readableBytes > 0 { return .bytes(out) }
                case .fileRegion(let region):
                    return read(region, notifying: promise, context)
                }
            case .wait(let future):
                return .wait(future)
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

    private mutating func read(_ region: FileRegion, notifying promise: EventLoopPromise<Void>?, _ context: ChatProducerContext) -> ChatProducerOutput {
        let (box, output) = ResultBox.awaiting(
            NonBlockingFileIO(threadPool: .singleton)
                .read(fileRegion: region, allocator: context.allocator, eventLoop: context.eventLoop)
        )
        pendingRead = box
        pendingPromise = promise
        return output
    }

    /// Cancels the wrapped producer.
    public mutating func cancel() {
        pendingPromise?.fail(ChannelError.ioOnClosedChannel)
        pendingPromise = nil
        inner.cancel()
    }
}

/// A read's result, handed from the future's callback to the next pull.
final class ResultBox: Sendable {
    private let box = NIOLockedValueBox<Result<ByteBuffer, any Error>?>(nil)
    func put(_ result: Result<ByteBuffer, any Error>) { box.withLockedValue { $0 = result } }
    func take() -> Result<ByteBuffer, any Error>? { box.withLockedValue { r in defer { r = nil }; return r } }

    /// Boxes the result of an off-loop `read` for the producer's next pull; the producer answers the current
    /// pull with `output` (a wait for the read).
    static func awaiting(_ read: EventLoopFuture<ByteBuffer>) -> (box: ResultBox, output: ChatProducerOutput) {
        let box = ResultBox()
        read.whenComplete { box.put($0) }
        return (box, .wait(read.map { _ in }))
    }
}
