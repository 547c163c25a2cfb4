import NIOCore
import NIOPosix

/// Hands out another producer's output with every file region read into bytes, in chunks of the preferred
/// size, with `pread` on NIO's blocking-I/O thread pool (never on the event loop).
///
/// For output that must pass through code that only takes bytes: a transport that encrypts in user space
/// (TLS: `sendfile` cannot reach the socket through it), or a producer that transforms bytes (compression).
/// The channel wraps every producer in one when its transport cannot carry file regions, so producers
/// written for `sendfile` work everywhere. One chunk is read at a time, and only when pulled, so a slow peer
/// holds one chunk plus the channel's buffered output, whatever the file's size.
///
/// A region's completion promise (``ChatProducerOutput/notifying(_:_:)``) goes with the region's last chunk.
/// A read that fails, or a file that ends before the region does, aborts the output
/// (``ChatProducerOutput/abort``): the peer must not take a cut-short body for a whole one.
public struct FileRegionReader<Inner: ChatProducer>: ChatProducer {
    private var inner: Inner
    private var region: Region?
    private var pending: ResultBox?

    private struct Region {
        /// The region's descriptor, taken from its handle on the event loop: the pool reads it with `pread`,
        /// never through the handle, which lends its descriptor to one user at a time (other connections read
        /// the same cached file at once).
        let descriptor: CInt
        var offset: Int
        let end: Int
        var promise: EventLoopPromise<Void>?
    }

    /// Wraps `inner`.
    ///
    /// - Parameter inner: the producer whose file regions are read.
    public init(_ inner: Inner) {
        self.inner = inner
    }

    /// The inner producer's output, with the next chunk of a file region as bytes (or a wait for its read).
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if let box = pending {
            pending = nil
            switch box.take() {
            case .success(let bytes)?:
                guard var current = region, bytes.readableBytes > 0 else {
                    return abort(IOError(errnoCode: EIO, reason: "the file ended before its region"))
                }
                current.offset += bytes.readableBytes
                guard current.offset >= current.end else {
                    region = current
                    return .bytes(bytes)
                }
                region = nil
                if let promise = current.promise { return .notifying(.byteBuffer(bytes), promise) }
                return .bytes(bytes)
            case .failure(let error)?:
                return abort(error)
            case nil:
                break  // not read yet: read again below
            }
        }
        while true {
            if let current = region { return read(current, context) }
            switch inner.more(context) {
            case .fileRegion(let fileRegion):
                if let output = start(fileRegion, promise: nil) { return output }
            case .notifying(.fileRegion(let fileRegion), let promise):
                if let output = start(fileRegion, promise: promise) { return output }
            case let output:
                return output
            }
        }
    }

    /// Makes `fileRegion` the region being read; an empty one is done at once (its promise goes with an
    /// empty write, so it completes in order with the output before it).
    private mutating func start(_ fileRegion: FileRegion, promise: EventLoopPromise<Void>?) -> ChatProducerOutput? {
        guard fileRegion.readableBytes > 0 else {
            return promise.map { .notifying(.byteBuffer(ByteBuffer()), $0) }
        }
        let descriptor: CInt
        do {
            descriptor = try fileRegion.fileHandle.withUnsafeFileDescriptor { $0 }
        } catch {
            promise?.fail(error)
            inner.cancel()
            return .abort
        }
        region = Region(
            descriptor: descriptor, offset: fileRegion.readerIndex, end: fileRegion.endIndex, promise: promise
        )
        return nil
    }

    private mutating func read(_ current: Region, _ context: ChatProducerContext) -> ChatProducerOutput {
        let count = min(max(context.preferredChunkSize, 4096), current.end - current.offset)
        let read = NIOThreadPool.singleton.positionalRead(
            fd: current.descriptor, offset: current.offset, count: count, allocator: context.allocator,
            eventLoop: context.eventLoop
        )
        // The inner producer owns the descriptor; a copy of it rides with the read, so a cancel meanwhile
        // cannot close the file under the read.
        let holder = inner
        read.whenComplete { _ in withExtendedLifetime(holder) {} }
        let (box, output) = ResultBox.awaiting(read)
        pending = box
        return output
    }

    private mutating func abort(_ error: any Error) -> ChatProducerOutput {
        region?.promise?.fail(error)
        region = nil
        inner.cancel()
        return .abort
    }

    /// Cancels the inner producer; a region's promise fails.
    public mutating func cancel() {
        region?.promise?.fail(ChannelError.ioOnClosedChannel)
        region = nil
        pending = nil
        inner.cancel()
    }
}
