import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The order in which the compression pool runs waiting slices: the response with the fewest bytes left to
/// compress goes first (the oldest among equals), and every ``oldestTurn``-th pick goes to the oldest response
/// waiting, whatever its size.
///
/// What this gives:
/// - A short response is not stuck behind long ones: a 40 KB page asked for while 64 downloads of 500 KB are
///   being compressed waits for about one slice per pool thread, not for a turn of all 64.
/// - Responses of one size finish one after another, oldest first (the one begun has fewer bytes left), instead
///   of all together at the end of a round in which each got an equal slice: taking turns in equal slices
///   delays every response to the time of the last, and the connections' zlib states evict each other from the
///   cache.
/// - Nothing starves: while short responses keep coming, the oldest waiting response still gets one pick in
///   ``oldestTurn``, so it progresses at no less than that share of the pool; once it is done, the next oldest
///   has that share, and every response becomes the oldest in time.
struct CompressionQueue<Job: Sendable>: Sendable {
    /// One pick in this many goes to the oldest waiting response.
    static var oldestTurn: Int { 8 }

    private struct Entry: Sendable {
        let remaining: Int
        let started: UInt64
        let sequence: UInt64
        let job: Job

        /// Fewer bytes left, then older, then added first.
        func ranksBefore(_ other: Entry) -> Bool {
            (remaining, started, sequence) < (other.remaining, other.started, other.sequence)
        }

        /// Older, then added first.
        func isOlder(than other: Entry) -> Bool {
            (started, sequence) < (other.started, other.sequence)
        }
    }

    private var entries: [Entry] = []
    private var added: UInt64 = 0
    private var picks = 0

    /// How many jobs are waiting.
    var count: Int { entries.count }

    /// Adds a job of a response that started at `started` (uptime nanoseconds) with `remaining` bytes left to
    /// compress.
    mutating func add(_ job: Job, remaining: Int, started: UInt64) {
        entries.append(Entry(remaining: max(remaining, 0), started: started, sequence: added, job: job))
        added &+= 1
    }

    /// Takes the job to run now: the one with the fewest bytes left, or on every ``oldestTurn``-th pick the
    /// oldest.
    mutating func next() -> Job? {
        guard var best = entries.indices.first else { return nil }
        picks += 1
        let oldest = picks % Self.oldestTurn == 0
        for i in entries.indices.dropFirst() {
            let better = oldest ? entries[i].isOlder(than: entries[best]) : entries[i].ranksBefore(entries[best])
            if better { best = i }
        }
        entries.swapAt(best, entries.count - 1)
        return entries.removeLast().job
    }
}

/// The threads that compress file responses, fed from a ``CompressionQueue``: each submitted slice adds an entry
/// and one pool job, and each pool job runs whichever entry ranks first when a thread takes it.
final class CompressionPool: Sendable {
    private let threads: NIOThreadPool
    private let queue = NIOLockedValueBox(CompressionQueue<@Sendable (NIOThreadPool.WorkItemState) -> Void>())

    /// A pool of `threads` threads, started now and shut down when the pool is released (the file server's,
    /// ``FileGzipProducer/pool``, never is).
    init(threads count: Int) {
        threads = NIOThreadPool(numberOfThreads: count)
        threads.start()
    }

    deinit {
        // Slices still waiting are failed; the threads end after the one they are on.
        threads.shutdownGracefully { _ in }
    }

    /// Runs `work` on a pool thread, in the queue's order among the waiting slices, and completes the future on
    /// `eventLoop` with its result.
    ///
    /// - Parameters:
    ///   - remaining: the bytes the stream has left to compress, this slice included.
    ///   - started: when the stream started (uptime nanoseconds).
    func run<T: Sendable>(
        remaining: Int, started: UInt64, on eventLoop: any EventLoop, _ work: @escaping @Sendable () throws -> T
    ) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        queue.withLockedValue {
            $0.add({ state in
                guard state == .active else {
                    promise.fail(NIOThreadPoolError.ThreadPoolInactive())
                    return
                }
                promise.completeWith(Result { try work() })
            }, remaining: remaining, started: started)
        }
        let queue = self.queue
        threads.submit { state in
            queue.withLockedValue { $0.next() }?(state)
        }
        return promise.futureResult
    }
}
