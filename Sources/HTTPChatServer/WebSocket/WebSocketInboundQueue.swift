import NIOConcurrencyHelpers
import NIOCore

/// The messages between a WebSocket connection (on its event loop) and the handler reading them (one task):
/// a bounded queue with one waiting reader. The connection stops reading the socket when ``yield(_:)`` says
/// the queue is full and resumes when `wanted` is called: the reader took it down below the low mark, went
/// away, or was cancelled.
///
/// Made for the echo path: a message for a waiting reader costs one lock and one resumption, a message already
/// queued is taken without suspending.
final class WebSocketInboundQueue: Sendable {
    /// Everything that changes, behind one lock and reached through one access per operation.
    private struct State {
        var messages = CircularBuffer<WebSocketMessage>(initialCapacity: 4)
        var reader: UnsafeContinuation<WebSocketMessage?, Never>?
        /// The connection ended the input: nil after the queued messages.
        var finished = false
        /// The reader is gone (its iterator dropped, or its task cancelled): messages are dropped from now on.
        var abandoned = false
        /// The connection was told to stop reading and not yet told to go on.
        var held = false

        mutating func take(lowWatermark: Int) -> Taken {
            if abandoned { return .end }
            guard let message = messages.popFirst() else { return finished ? .end : .wait }
            if held, messages.count < lowWatermark {
                held = false
                return .message(message, release: true)
            }
            return .message(message, release: false)
        }

        mutating func abandon() {
            abandoned = true
            held = false
            messages.removeAll()
        }
    }

    private enum Taken {
        /// A message, and whether the connection is to be let go on.
        case message(WebSocketMessage, release: Bool)
        case end
        case wait
    }

    private let state = NIOLockedValueBox(State())
    private let lowWatermark: Int
    private let highWatermark: Int
    /// Called (on any thread) when a held connection may read again.
    private let wanted: @Sendable () -> Void

    /// A queue that holds the connection at `highWatermark` queued messages until the reader takes it below
    /// `lowWatermark`.
    init(lowWatermark: Int, highWatermark: Int, wanted: @escaping @Sendable () -> Void) {
        self.lowWatermark = max(1, min(lowWatermark, highWatermark))
        self.highWatermark = max(1, highWatermark)
        self.wanted = wanted
    }

    /// Hands `message` to the reader, or queues it; false when the connection should stop reading until
    /// `wanted` is called. A message for a reader that is gone is dropped.
    func yield(_ message: WebSocketMessage) -> Bool {
        let highWatermark = highWatermark
        let (waiting, more): (UnsafeContinuation<WebSocketMessage?, Never>?, Bool) = state.withLockedValue { state in
            if state.finished || state.abandoned { return (nil, true) }
            if let reader = state.reader {
                state.reader = nil
                return (reader, true)
            }
            state.messages.append(message)
            if state.messages.count >= highWatermark {
                state.held = true
                return (nil, false)
            }
            return (nil, true)
        }
        waiting?.resume(returning: message)
        return more
    }

    /// No more messages: the reader gets nil once it has taken the queued ones.
    func finish() {
        let waiting: UnsafeContinuation<WebSocketMessage?, Never>? = state.withLockedValue { state in
            state.finished = true
            defer { state.reader = nil }
            return state.reader
        }
        waiting?.resume(returning: nil)
    }

    /// The next message, waiting for one; nil once the input ended or the reading task was cancelled. Runs on
    /// the caller's isolation: taking a message costs no executor switch.
    nonisolated(nonsending) func next() async -> WebSocketMessage? {
        let lowWatermark = lowWatermark
        switch state.withLockedValue({ $0.take(lowWatermark: lowWatermark) }) {
        case .message(let message, let release):
            if release { wanted() }
            return message
        case .end:
            return nil
        case .wait:
            return await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<WebSocketMessage?, Never>) in
                    let now: Taken = state.withLockedValue { state in
                        let taken = state.take(lowWatermark: lowWatermark)
                        if case .wait = taken {
                            if Task.isCancelled {
                                state.abandon()
                                return .end
                            }
                            state.reader = continuation
                        }
                        return taken
                    }
                    switch now {
                    case .message(let message, let release):
                        continuation.resume(returning: message)
                        if release { wanted() }
                    case .end:
                        continuation.resume(returning: nil)
                        wanted()
                    case .wait:
                        break
                    }
                }
            } onCancel: {
                abandon()
            }
        }
    }

    /// The reader is gone: queued messages are dropped, a waiting read ends with nil, and a held connection
    /// reads again (to see the close frame, or the end).
    func abandon() {
        let waiting: UnsafeContinuation<WebSocketMessage?, Never>? = state.withLockedValue { state in
            state.abandon()
            defer { state.reader = nil }
            return state.reader
        }
        waiting?.resume(returning: nil)
        wanted()
    }
}

/// Tells the queue its reader is gone when the last holder goes away: the ``WebSocketInbound`` given to the
/// handler and every iterator made from it hold one. (A handler that returns without reading, or stops reading,
/// lets the connection read on, to see the client's close frame.)
final class WebSocketInboundReader: Sendable {
    let queue: WebSocketInboundQueue
    init(_ queue: WebSocketInboundQueue) { self.queue = queue }
    deinit { queue.abandon() }
}
