package import HTTPChatCore
public import NIOCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a streamed response body (see ``ResponseBody/stream(length:_:)``). Each ``write(_:)-(ByteBuffer)`` returns once
/// the connection can take more, so a fast handler cannot outrun a slow client.
public struct BodyWriter: Sendable {
    let sink: any BodySink

    package init(_ sink: any BodySink) { self.sink = sink }

    /// Writes a chunk of the body.
    ///
    /// - Parameter bytes: the bytes; empty buffers are ignored.
    /// - Throws: ``BodyWriterError/connectionClosed`` when the client is gone.
    public func write(_ bytes: ByteBuffer) async throws {
        guard bytes.readableBytes > 0 else { return }
        try await sink.write(bytes)
    }

    /// Writes the UTF-8 bytes of `string`.
    ///
    /// - Parameter string: the text.
    /// - Throws: ``BodyWriterError/connectionClosed`` when the client is gone.
    public func write(_ string: String) async throws {
        try await write(ByteBuffer(string: string))
    }
}

/// Why a body write failed.
public enum BodyWriterError: Error, Sendable {
    /// The connection closed before the body was written.
    case connectionClosed
    /// The body's producer failed before its end (``/HTTPChatCore/ChatProducerOutput/abort``): the body is incomplete.
    case aborted
}

/// Where a ``BodyWriter`` puts the bytes: the connection's ``StreamBridge``, or a test's collector.
package protocol BodySink: Sendable {
    func write(_ bytes: ByteBuffer) async throws
}

/// The bridge between a handler writing a body and the connection pulling it: a ``ChatProducer`` on one side,
/// a ``BodySink`` on the other, with a bounded queue between them.
package final class StreamBridge: BodySink, Sendable {
    /// Everything that changes, behind one lock and reached through one access per operation.
    private struct State {
        var queue = CircularBuffer<ByteBuffer>(initialCapacity: 1)  // grows when writes outrun the socket
        /// How many chunks at the head of `queue` were queued `first`: those go out ahead of the rest, among
        /// themselves in the order they came (a WebSocket answers pings in the order received).
        var urgentCount = 0
        var queuedBytes = 0
        var finished = false
        var failed = false
        /// The writer failed: what it queued still goes out, then the pull answers ``ChatProducerOutput/abort``.
        var aborted = false
        var writerWaiting: CheckedContinuation<Void, any Error>?
        /// The producer answered `.park`: its waker, and the loop to wake it from when the writer is elsewhere.
        var parked: Parked?

        var isOpen: Bool { !(failed || finished || aborted) }

        /// Queues `bytes` (with `first`, after the other urgent chunks and before the rest) and takes the parked
        /// producer, to be woken.
        mutating func append(_ bytes: ByteBuffer, first: Bool = false) -> Parked? {
            if !first {
                queue.append(bytes)
            } else if urgentCount == 0 {
                queue.prepend(bytes)
                urgentCount = 1
            } else {
                queue.insert(bytes, at: queue.index(queue.startIndex, offsetBy: urgentCount))
                urgentCount += 1
            }
            queuedBytes += bytes.readableBytes
            return takeParked()
        }

        /// Takes the chunk at the head of the queue.
        mutating func popFirst() -> ByteBuffer? {
            guard let chunk = queue.popFirst() else { return nil }
            if urgentCount > 0 { urgentCount -= 1 }
            queuedBytes -= chunk.readableBytes
            return chunk
        }

        mutating func takeParked() -> Parked? {
            defer { parked = nil }
            return parked
        }
    }

    /// A parked producer's waker and loop.
    private struct Parked {
        let waker: ChatProducerWaker
        let loop: any EventLoop
    }

    private let state: NIOLockedValueBox<State>
    private let highWaterMark: Int
    private let lowWaterMark: Int
    /// The executor the writer's task runs on, when known: a write from one of its jobs wakes the producer
    /// when the batch is over (no loop task of its own).
    private let executor: EventLoopTaskExecutor?

    /// A bridge that holds writers back above `highWaterMark` queued bytes until the queue is down to
    /// `lowWaterMark`.
    package convenience init(highWaterMark: Int = 64 * 1024, lowWaterMark: Int = 16 * 1024) {
        self.init(highWaterMark: highWaterMark, lowWaterMark: lowWaterMark, executor: nil)
    }

    /// A bridge as above whose writer runs on `executor` (of the connection's loop).
    init(highWaterMark: Int, lowWaterMark: Int, executor: EventLoopTaskExecutor?) {
        self.state = NIOLockedValueBox(State())
        self.highWaterMark = highWaterMark
        self.lowWaterMark = lowWaterMark
        self.executor = executor
    }

    /// Queues `bytes`, waiting while the queue is above the high-water mark. Below it the write returns without
    /// suspending, so a handler on the event loop can queue several chunks (a burst of WebSocket echoes) before
    /// the connection pulls them: they go out in one flush, not one write and flush each.
    package nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws {
        switch append(bytes) {
        case .belowMark: return
        case .closed: throw BodyWriterError.connectionClosed
        case .aboveMark: try await waitForRoom()
        }
    }

    /// What ``append(_:)`` did.
    enum Appended {
        /// Queued; the queue is at or below the high-water mark.
        case belowMark
        /// Queued; the queue is above the high-water mark, so the writer should ``waitForRoom()``.
        case aboveMark
        /// Not queued: the bridge has finished or failed.
        case closed
    }

    /// Queues `bytes` without waiting, whatever the queue holds, and says whether the writer should now wait
    /// for room: the first half of ``write(_:)``, for a writer that must queue under a lock of its own (a
    /// WebSocket's deflater: frames must be queued in the order they were compressed).
    func append(_ bytes: ByteBuffer) -> Appended {
        let highWaterMark = highWaterMark
        let (wake, outcome): (Parked?, Appended) = state.withLockedValue { state in
            guard state.isOpen else { return (nil, .closed) }
            let wake = state.append(bytes)
            return (wake, state.queuedBytes <= highWaterMark ? .belowMark : .aboveMark)
        }
        wakeLater(wake)
        return outcome
    }

    /// Whether `count` more bytes would stay at or below the high-water mark with no writer waiting for room
    /// (what ``writeIfRoom(_:)`` checks). Only a hint when other writers run at the same time.
    func hasRoom(for count: Int) -> Bool {
        let highWaterMark = highWaterMark
        return state.withLockedValue { state in
            state.isOpen && state.writerWaiting == nil && state.queuedBytes + count <= highWaterMark
        }
    }

    /// What ``writeIfRoom(_:)`` did.
    enum WriteIfRoom {
        /// Queued.
        case written
        /// Not queued: the bridge has finished or failed.
        case closed
        /// Not queued: it would pass the high-water mark, or a writer waits for room (``write(_:)`` queues it
        /// and waits).
        case full
    }

    /// Queues `bytes` only when they fit below the high-water mark and no writer waits for room, without
    /// waiting and without a task: one lock. A writer that runs on the loop queues a run of small writes this
    /// way before the connection pulls. While a writer waits, every other goes the waiting way (in turns, for
    /// a WebSocket): writers that never wait must not keep the queue above the low-water mark and starve it.
    func writeIfRoom(_ bytes: ByteBuffer) -> WriteIfRoom {
        let highWaterMark = highWaterMark
        let (wake, outcome): (Parked?, WriteIfRoom) = state.withLockedValue { state in
            guard state.isOpen else { return (nil, .closed) }
            guard state.writerWaiting == nil, state.queuedBytes + bytes.readableBytes <= highWaterMark else {
                return (nil, .full)
            }
            return (state.append(bytes), .written)
        }
        wakeLater(wake)
        return outcome
    }

    /// Whether a writer waits for room (for tests).
    var isWriterWaiting: Bool { state.withLockedValue { $0.writerWaiting != nil } }

    /// Waits until pulls bring the queue down to the low-water mark, or the bridge fails.
    nonisolated(nonsending) func waitForRoom() async throws {
        let lowWaterMark = lowWaterMark
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let resume: Bool? = state.withLockedValue { state in
                if state.failed { return false }
                if state.queuedBytes <= lowWaterMark { return true }  // pulled down meanwhile
                state.writerWaiting = continuation
                return nil
            }
            switch resume {
            case true?: continuation.resume()
            case false?: continuation.resume(throwing: BodyWriterError.connectionClosed)
            case nil: break
            }
        }
    }

    /// Wakes the waiting producer later rather than inside the caller: a writer on the loop finishes its run
    /// of writes first, and the connection writes them all before it flushes once. A writer in a job of
    /// ``executor`` wakes it when the executor's batch is over; any other with a task of the loop.
    private func wakeLater(_ parked: Parked?) {
        guard let parked else { return }
        if let executor, executor.afterBatch(parked.waker) { return }
        let waker = parked.waker
        parked.loop.execute { waker.wake() }
    }

    /// Queues `bytes` without waiting (after everything queued, or with `first` ahead of all but the earlier
    /// `first` chunks, which keep their order); false once the bridge has finished or failed. For the event
    /// loop's own bytes, which cannot wait: a WebSocket's pongs (in the order of their pings) and close frames. With `finishing`, the bridge finishes with these bytes (as ``finish()``) in the same
    /// step, so no write from another thread can come after them.
    package func enqueue(_ bytes: ByteBuffer, first: Bool = false, finishing: Bool = false) -> Bool {
        let (wake, taken): (Parked?, Bool) = state.withLockedValue { state in
            guard state.isOpen else { return (nil, false) }
            if finishing { state.finished = true }
            return (state.append(bytes, first: first), true)
        }
        wakeLater(wake)
        return taken
    }

    /// The handler returned: the body ends after what is queued.
    package func finish() {
        let wake: Parked? = state.withLockedValue { state in
            state.finished = true
            return state.takeParked()
        }
        wake?.waker.wake()
    }

    /// The writer failed midway: the bytes it queued (its writes returned, so they were taken) still go out,
    /// then the pull aborts instead of ending the body, and the connection closes (the body is cut short, not
    /// ended). Later writes fail.
    package func abort() {
        let wake: Parked? = state.withLockedValue { state in
            state.aborted = true
            return state.takeParked()
        }
        wakeLater(wake)
    }

    /// The connection went away: writers fail from now on, what is queued is dropped, and the connection, if it
    /// still pulls, aborts instead of ending the body.
    package func fail() {
        let (writer, wake): (CheckedContinuation<Void, any Error>?, Parked?) = state.withLockedValue { state in
            state.failed = true
            state.queue.removeAll()
            state.urgentCount = 0
            state.queuedBytes = 0
            defer { state.writerWaiting = nil }
            return (state.writerWaiting, state.takeParked())
        }
        writer?.resume(throwing: BodyWriterError.connectionClosed)
        wake?.waker.wake()
    }

    /// The producer side, pulled by the connection.
    func pull(_ context: ChatProducerContext) -> ChatProducerOutput {
        let lowWaterMark = lowWaterMark
        let (output, writer): (ChatProducerOutput, CheckedContinuation<Void, any Error>?) = state.withLockedValue {
            state in
            if let chunk = state.popFirst() {
                var writer: CheckedContinuation<Void, any Error>?
                if state.queuedBytes <= lowWaterMark {
                    writer = state.writerWaiting
                    state.writerWaiting = nil
                }
                return (.bytes(chunk), writer)
            }
            if state.failed || state.aborted { return (.abort, nil) }
            if state.finished { return (.end, nil) }
            state.parked = Parked(waker: context.waker, loop: context.eventLoop)
            return (.park, nil)
        }
        writer?.resume()
        return output
    }
}

/// The producer face of a ``StreamBridge``.
package struct StreamBridgeProducer: ChatProducer {
    let bridge: StreamBridge
    /// The producer of `bridge`'s bytes.
    package init(bridge: StreamBridge) { self.bridge = bridge }
    /// The next queued bytes, a wait, or the end.
    package mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput { bridge.pull(context) }
    /// Fails the bridge: its writer sees the connection closed.
    package mutating func cancel() { bridge.fail() }
}
