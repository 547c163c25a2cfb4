import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs Swift tasks on a NIO event loop, so a handler started for a connection runs on that connection's loop:
/// no thread hop to start it, none to come back with its response.
///
/// Jobs run in batches: the first job enqueued schedules one task of the loop, and that task runs every job
/// queued when it starts (jobs enqueued meanwhile wait for the next batch, so input and timers are not
/// starved). Work the jobs leave for afterwards (``afterBatch(_:)``: a stream bridge waking its connection)
/// runs once the batch is over, so a batch's writes leave together, without a loop task of their own.
/// Connections of one of NIO's own loops share the loop's executor (``forLoop(_:)``), so the handlers a loop
/// turn's reads resumed run in one loop task, not one each.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `queue` and `scheduled` are guarded by `lock` (jobs are enqueued from any thread); `running`,
    // `spare` and `wakes` are touched only on the event loop.
    let eventLoop: any EventLoop
    private let lock = NIOLock()
    private var queue: [UnownedJob] = []
    private var scheduled = false
    private var spare: [UnownedJob] = []
    private var running = false
    private var wakes: [EventLoopPromise<Void>] = []

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// The executor for a connection of `eventLoop`, called on it: the one its thread keeps when the loop is one
    /// of NIO's own (a `MultiThreadedEventLoopGroup`'s, one thread for its life), else a new one. A testing loop
    /// runs on whichever Dispatch thread is free, so a thread's executor would not be its loop's: each of its
    /// connections gets one of its own.
    static func forLoop(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        guard let current = MultiThreadedEventLoopGroup.currentEventLoop, current === eventLoop else {
            return EventLoopTaskExecutor(eventLoop)
        }
        if let executor = threadExecutor.currentValue, executor.eventLoop === eventLoop { return executor }
        let executor = EventLoopTaskExecutor(eventLoop)
        threadExecutor.currentValue = executor
        return executor
    }

    private static let threadExecutor = ThreadSpecificVariable<EventLoopTaskExecutor>()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let schedule = lock.withLock {
            queue.append(job)
            if scheduled { return false }
            scheduled = true
            return true
        }
        if schedule { eventLoop.execute { self.runBatch() } }
    }

    /// Succeeds `promise` once the batch of jobs running now is over, when one is (true); false when the
    /// caller is not in a job of this executor (the caller then wakes it its own way).
    func afterBatch(_ promise: EventLoopPromise<Void>) -> Bool {
        guard eventLoop.inEventLoop, running else { return false }
        wakes.append(promise)
        return true
    }

    private func runBatch() {
        var batch: [UnownedJob] = []
        swap(&batch, &spare)
        lock.withLock {
            swap(&batch, &queue)
            scheduled = false
        }
        running = true
        for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        running = false
        batch.removeAll(keepingCapacity: true)
        spare = batch
        guard !wakes.isEmpty else { return }
        var due: [EventLoopPromise<Void>] = []
        swap(&due, &wakes)
        for promise in due { promise.succeed(()) }
        due.removeAll(keepingCapacity: true)
        wakes = due
    }
}
