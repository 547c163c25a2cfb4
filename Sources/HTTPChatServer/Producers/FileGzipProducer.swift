import HTTPChatCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import CSpawn

/// A range of a file compressed into the gzip format off the event loop: each pull is one job on the
/// compression pool (``pool``) that reads a bounded slice (``sliceBytes``) and deflates it, and the loop only
/// hands the result to the socket. Waiting slices run in ``CompressionQueue``'s order: fewest bytes left first,
/// with a share for the oldest response.
///
/// Compressing on the loop made a loaded server unfair: NIO runs its task queue until it is empty before it
/// polls the sockets again, and 64 downloads whose reads completed one after another kept it busy compressing
/// for a whole round of responses, while requests that arrived meanwhile were not read at all (wrk counted
/// 48 timeouts over 2 s in 5 s). With the work in the pool, the loop is free between slices, every request is
/// read when it arrives, and the pool takes the waiting slices in ``CompressionQueue``'s order.
struct FileGzipProducer: ChatProducer {
    /// Input bytes per job: about a millisecond of deflate at level 6.
    static let sliceBytes = 64 * 1024

    /// The threads that compress: one per CPU this process may run on (its affinity mask, which `taskset` and
    /// container limits narrow), started on first use and kept for the life of the process. NIO's blocking
    /// pool has one per core of the machine: pinned to one CPU, its two threads took turns compressing two
    /// streams at once, each evicting the other's zlib state from the cache (15% fewer downloads a second).
    static let pool = CompressionPool(threads: usableCPUs())

    /// The CPUs this process may run on.
    static func usableCPUs() -> Int {
        let count = Int(httpchat_usable_cpus())
        return count > 0 ? count : System.coreCount
    }

    /// What the jobs share: used by one job at a time (the next starts only after the loop took the last one's
    /// result), so the stream needs no lock; the result slot does, as the job fills it on a pool thread.
    private final class Stream: @unchecked Sendable {
        let deflater: Deflater
        let result = NIOLockedValueBox<Result<(bytes: ByteBuffer, read: Int), any Error>?>(nil)
        init(level: Int32) { deflater = Deflater(level: level) }
    }

    private var file: OpenFile?
    private var offset: Int
    private let end: Int
    private let stream: Stream
    /// When the response started (uptime nanoseconds): the pool's queue gives the oldest response a share.
    private let started: UInt64
    private var waiting = false
    private var done = false
    /// What the caller holds for a compression under way (the file server's slot), let go when this ends.
    private var slot: (any AnyObject & Sendable)?

    /// Compresses `range` of `file` at zlib `level`, holding the file (and `slot`, when given) until done.
    init(file: OpenFile, range: Range<Int>, level: Int32, slot: (any AnyObject & Sendable)? = nil) {
        self.slot = slot
        self.file = file
        self.offset = range.lowerBound
        self.end = range.upperBound
        self.stream = Stream(level: level)
        self.started = NIODeadline.now().uptimeNanoseconds
    }

    /// The compressed bytes of the last slice (empty while zlib holds them back: the next slice is asked for),
    /// a wait for the next slice, or the end.
    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if done { return .end }
        if waiting {
            waiting = false
            switch stream.result.withLockedValue({ r in defer { r = nil }; return r }) {
            case .success(let slice)?:
                offset += slice.read
                if offset >= end || slice.read == 0 {  // the end, or the file shrank: the stream is finished
                    done = true
                    file = nil
                    slot = nil
                }
                return .bytes(slice.bytes)
            case .failure?, nil:
                done = true
                file = nil
                slot = nil
                return .abort
            }
        }
        guard let file else { return .end }
        let stream = self.stream
        let at = offset
        let count = min(Self.sliceBytes, end - offset)
        let allocator = context.allocator
        let end = self.end
        let job = Self.pool.run(remaining: end - offset, started: started, on: context.eventLoop) {
            () throws -> (bytes: ByteBuffer, read: Int) in
            var input = allocator.buffer(capacity: count)
            if count > 0 {
                // The raw descriptor: the cache shares the file, and the handle lends itself to one thread at a time.
                try input.writePositionalRead(fd: file.descriptor, offset: at, count: count, allowShort: true)
            }
            let read = input.readableBytes
            var out = allocator.buffer(capacity: read / 3 + 64)
            stream.deflater.compress(input, finish: read < count || at + read >= end, into: &out)
            return (out, read)
        }
        job.whenComplete { result in
            withExtendedLifetime(file) {}  // a cancel meanwhile must not close the file under the read
            stream.result.withLockedValue { $0 = result }
        }
        waiting = true
        return .wait(job.map { _ in })
    }

    /// Lets go of the file; a slice in flight finishes and is dropped.
    mutating func cancel() {
        file = nil
        slot = nil
        done = true
    }
}
