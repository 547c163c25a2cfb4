import HTTPChatCore
import NIOConcurrencyHelpers
import NIOCore

/// Runs Swift tasks on a NIO event loop, so a handler started for a connection runs on that connection's loop:
/// no thread hop to start it, none to come back with its response.
///
/// Jobs run in batches: the first job enqueued schedules one task of the loop, and that task runs every job
/// queued when it starts (jobs enqueued meanwhile wait for the next batch, so input and timers are not
/// starved). Work the jobs leave for afterwards (``afterBatch(_:)``: a stream bridge waking its connection)
/// runs once the batch is over, so a batch's writes leave together, without a loop task of their own. One per
/// connection: sharing one per loop (batching the handlers of a loop turn's reads together) made the test suite
/// fail now and then (a double free with testing loops, a response that never came with NIO's own).
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `queue` and `scheduled` are guarded by `lock` (jobs are enqueued from any thread); `running`,
    // `spare` and `wakes` are touched only on the event loop.
    let eventLoop: any EventLoop
    private let lock = NIOLock()
    private var queue: [UnownedJob] = []
    private var scheduled = false
    private var spare: [UnownedJob] = []
    private var running = false
    private var wakes: [ChatProducerWaker] = []

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

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

    /// Wakes `waker` once the batch of jobs running now is over, when one is (true); false when the caller is
    /// not in a job of this executor (the caller then wakes it its own way).
    func afterBatch(_ waker: ChatProducerWaker) -> Bool {
        guard eventLoop.inEventLoop, running else { return false }
        wakes.append(waker)
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
        var due: [ChatProducerWaker] = []
        swap(&due, &wakes)
        for waker in due { waker.wake() }
        due.removeAll(keepingCapacity: true)
        wakes = due
    }
}
