public import NIOCore
import NIOConcurrencyHelpers

/// A source of output pulled by the chat channel: asynchat's producer, whose `more()` is called only while
/// the connection can take more bytes.
///
/// The channel calls ``more(_:)`` on its event loop, only while the socket is writable (below the write
/// high-water mark), so a producer of any size is read lazily. A producer may answer with bytes, a file
/// region (sent with `sendfile`), a future to wait for (an asynchronous producer waiting for data without
/// blocking the loop), or the end.
///
/// ```swift
/// struct Countdown: ChatProducer {
///     var n = 3
///     mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
///         guard n > 0 else { return .end }
///         defer { n -= 1 }
///         return .bytes(context.allocator.buffer(string: "\(n)\r\n"))
///     }
/// }
/// chat.push(producer: Countdown())
/// ```
public protocol ChatProducer: Sendable {
    /// Returns the next piece of output. Called on the channel's event loop, never concurrently, and never
    /// again after it returned ``ChatProducerOutput/end``.
    ///
    /// - Parameter context: the allocator, event loop and preferred chunk size of the channel.
    /// - Returns: bytes (empty bytes are skipped and `more` is pulled again), a file region, `.wait(future)`
    ///   to be pulled again once `future` completes (success or failure), `.park` to be pulled again once
    ///   `context.waker` is woken, or `.end`.
    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput

    /// Called instead of further pulls when the producer is dropped before its end: the connection closed or
    /// ``ChatChannel/discardBuffers()`` was called. Release resources here. The default does nothing.
    mutating func cancel()
}

extension ChatProducer {
    /// Does nothing: most producers hold no resources beyond memory.
    public mutating func cancel() {}
}

/// What a producer hands the channel on each pull.
public enum ChatProducerOutput: Sendable {
    /// Bytes to write.
    case bytes(ByteBuffer)
    /// A region of a file to write with `sendfile`. The file handle must stay open until the write is done.
    case fileRegion(FileRegion)
    /// Bytes or a file region to write, with a promise completed when the write is done (or failed when the
    /// connection closes first): how a producer learns it may release what the write uses.
    case notifying(IOData, EventLoopPromise<Void>)
    /// Nothing yet: pull again once this future completes.
    case wait(EventLoopFuture<Void>)
    /// Nothing yet: pull again once ``ChatProducerContext/waker`` is woken. A wait without a future, for a
    /// producer that waits often (a stream of small writes): no promise is made per wait.
    case park
    /// The producer is finished; the next queued item is sent.
    case end
    /// The producer failed and cannot finish: what it already handed out is sent, then the connection closes
    /// and everything queued after it is dropped, so the peer sees the message cut short instead of a
    /// complete-looking one (a chunked body never gets its last chunk).
    case abort
}

/// What a producer may use while it is pulled.
public struct ChatProducerContext: Sendable {
    /// The channel's allocator.
    public let allocator: ByteBufferAllocator
    /// The channel's event loop; `more` runs on it.
    public let eventLoop: any EventLoop
    /// The chunk size to aim for (``ChatConfiguration/outBufferSize``, asynchat's `ac_out_buffer_size`).
    public let preferredChunkSize: Int
    /// Wakes a producer that answered ``ChatProducerOutput/park``. Keep it: it stays valid for the producer's
    /// life, from any thread.
    public let waker: ChatProducerWaker

    /// A context for pulling a producer outside a channel (HTTPChatTesting's `ResponseBody.collect()`), or
    /// the channel's own.
    package init(
        allocator: ByteBufferAllocator, eventLoop: any EventLoop, preferredChunkSize: Int,
        waker: ChatProducerWaker = ChatProducerWaker {}
    ) {
        self.allocator = allocator
        self.eventLoop = eventLoop
        self.preferredChunkSize = preferredChunkSize
        self.waker = waker
    }
}

/// Wakes a producer that answered ``ChatProducerOutput/park``: the channel pulls it again. Callable from any
/// thread and at any time: a wake while the producer is not parked (it is being pulled, say) makes its next
/// `.park` be pulled again at once, so a wake is never lost; an extra one costs one pull.
public struct ChatProducerWaker: Sendable {
    private let action: @Sendable () -> Void

    /// A waker that runs `action` (the channel's: pull the parked producer on its loop).
    package init(_ action: @escaping @Sendable () -> Void) {
        self.action = action
    }

    /// Has the producer pulled again.
    public func wake() {
        action()
    }
}

/// A producer that hands out one buffer in chunks of the preferred size (asynchat's `simple_producer`).
public struct BufferProducer: ChatProducer {
    private var remaining: ByteBuffer

    /// Creates a producer of `bytes`.
    ///
    /// - Parameter bytes: the bytes to send; they are sliced, not copied.
    public init(_ bytes: ByteBuffer) {
        self.remaining = bytes
    }

    /// The next chunk of at most the preferred size, then `.end`.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        let n = Swift.min(remaining.readableBytes, Swift.max(1, context.preferredChunkSize))
        guard n > 0 else { return .end }
        return .bytes(remaining.readSlice(length: n)!)
    }
}

/// A producer pulled outside a channel (HTTPChatTesting's `ResponseBody.collect()`, tests): ``context``'s waker
/// ends the wait of ``parked()``, which a puller awaits when the producer answers ``ChatProducerOutput/park``.
package final class DetachedProducerPull: Sendable {
    /// The context to pull with.
    package let context: ChatProducerContext
    private let signal: NIOLockedValueBox<(woken: Bool, waiting: CheckedContinuation<Void, Never>?)>

    /// A pull on `eventLoop` with `allocator`, aiming at `preferredChunkSize`.
    package init(allocator: ByteBufferAllocator, eventLoop: any EventLoop, preferredChunkSize: Int) {
        let signal = NIOLockedValueBox<(woken: Bool, waiting: CheckedContinuation<Void, Never>?)>((false, nil))
        self.signal = signal
        self.context = ChatProducerContext(
            allocator: allocator, eventLoop: eventLoop, preferredChunkSize: preferredChunkSize,
            waker: ChatProducerWaker {
                let waiting = signal.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                    guard let waiting = state.waiting else {
                        state.woken = true
                        return nil
                    }
                    state.waiting = nil
                    return waiting
                }
                waiting?.resume()
            }
        )
    }

    /// Returns once the waker was woken since the last call (at once if it already was).
    package func parked() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = signal.withLockedValue { state -> Bool in
                if state.woken {
                    state.woken = false
                    return true
                }
                state.waiting = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}
