public import HTTPChatServer
import HTTPChatCore
public import NIOCore
import NIOConcurrencyHelpers
import NIOPosix

extension ResponseBody {
    /// Reads the whole body into memory, pulling producers and running streams (for in-process tests).
    ///
    /// - Parameter allocator: the allocator producers use.
    /// - Returns: the body's bytes; file regions are read from their files.
    /// - Throws: a stream's error; ``/HTTPChatServer/BodyWriterError/aborted`` when a producer aborts.
    public func collect(allocator: ByteBufferAllocator = ByteBufferAllocator()) async throws -> ByteBuffer {
        switch storage {
        case .bytes(let b):
            return b
        case .producer(var producer, _):
            var out = ByteBuffer()
            let loop = MultiThreadedEventLoopGroup.singleton.any()
            let pull = DetachedProducerPull(allocator: allocator, eventLoop: loop, preferredChunkSize: 64 * 1024)
            let context = pull.context
            while true {
                switch producer.more(context) {
                case .bytes(var b): out.writeBuffer(&b)
                case .fileRegion(let region):
                    try region.fileHandle.withUnsafeFileDescriptor { fd in
                        try out.writePositionalRead(fd: fd, offset: region.readerIndex, count: region.readableBytes)
                    }
                case .notifying(let data, let promise):
                    switch data {
                    case .byteBuffer(var b): out.writeBuffer(&b)
                    case .fileRegion(let region):
                        try region.fileHandle.withUnsafeFileDescriptor { fd in
                            try out.writePositionalRead(fd: fd, offset: region.readerIndex, count: region.readableBytes)
                        }
                    }
                    promise.succeed(())
                case .wait(let future): try? await future.get()
                case .park: await pull.parked()
                case .end: return out
                case .abort: throw BodyWriterError.aborted
                }
            }
        case .stream(_, let write):
            let collector = CollectingWriter()
            try await write(BodyWriter(collector))
            return collector.bytes
        }
    }
}

/// Collects a streamed body in memory (in-process tests).
final class CollectingWriter: BodySink {
    private let box = NIOLockedValueBox(ByteBuffer())
    var bytes: ByteBuffer { box.withLockedValue { $0 } }
    func write(_ bytes: ByteBuffer) async throws {
        var bytes = bytes
        _ = box.withLockedValue { $0.writeBuffer(&bytes) }
    }
}
