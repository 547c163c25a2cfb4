import HTTPChatCore
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore

extension Response {
    /// Calls `done` once, with the body bytes handed to the connection, when the body is over: sent whole,
    /// failed part-way, cut short by the client, or released unsent. The access log writes its line there and
    /// the tracing middleware ends its span there, so both see what really went out, not what was meant to.
    ///
    /// A body in memory goes out whole with the head, so `done` runs at once with its size; for `HEAD` it runs
    /// at once with 0 (no body is sent).
    ///
    /// - Parameters:
    ///   - method: the request's method.
    ///   - done: what to run, with the bytes sent.
    mutating func whenBodyDone(method: HTTPRequest.Method, _ done: @escaping @Sendable (Int) -> Void) {
        let completion = BodyCompletion(done)
        switch body.storage {
        case .bytes(let bytes):
            completion.finish(sent: method == .head ? 0 : bytes.readableBytes)
        case .producer(let producer, let length):
            guard method != .head else {
                completion.finish(sent: 0)
                return
            }
            body = ResponseBody(producer: CountingProducer(inner: producer, completion: completion), length: length)
        case .stream(let length, let write):
            guard method != .head else {
                completion.finish(sent: 0)
                return
            }
            body = .stream(length: length) { writer in
                defer { completion.finish() }
                try await write(BodyWriter(CountingSink(inner: writer.sink, completion: completion)))
            }
        }
    }
}

/// One body's end, reported once: when it ends, fails or is dropped (also when the last copy of the body is
/// released unsent).
final class BodyCompletion: Sendable {
    private let state = NIOLockedValueBox<(sent: Int, done: Bool)>((0, false))
    private let action: @Sendable (Int) -> Void

    init(_ action: @escaping @Sendable (Int) -> Void) {
        self.action = action
    }

    func add(_ count: Int) { state.withLockedValue { $0.sent += count } }

    /// Reports the bytes counted (or `sent`), unless reported already.
    func finish(sent: Int? = nil) {
        let total = state.withLockedValue { s -> Int? in
            guard !s.done else { return nil }
            s.done = true
            return sent ?? s.sent
        }
        if let total { action(total) }
    }

    deinit { finish() }
}

/// Counts the body bytes a producer hands the connection. A file region (sendfile) is handed on in slices of
/// at most ``slice`` bytes: the connection pulls the next only once the socket took the last, so a download
/// cut short is counted to within a slice and the socket's buffers, not as the whole file.
struct CountingProducer: ChatProducer {
    var inner: any ChatProducer
    let completion: BodyCompletion
    /// The rest of a file region being sliced, and the promise that goes with its last slice.
    private var region: (region: FileRegion, promise: EventLoopPromise<Void>?)?

    static let slice = 1 << 20

    init(inner: any ChatProducer, completion: BodyCompletion) {
        self.inner = inner
        self.completion = completion
    }

    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if let (rest, promise) = region { return next(rest, promise) }
        let output = inner.more(context)
        switch output {
        case .bytes(let bytes): completion.add(bytes.readableBytes)
        case .fileRegion(let whole): return next(whole, nil)
        case .notifying(.fileRegion(let whole), let promise): return next(whole, promise)
        case .notifying(let data, _): completion.add(data.readableBytes)
        case .end, .abort: completion.finish()
        case .wait, .park: break
        }
        return output
    }

    /// The next slice of `rest`; the promise goes with the last one.
    private mutating func next(_ rest: FileRegion, _ promise: EventLoopPromise<Void>?) -> ChatProducerOutput {
        let count = min(rest.readableBytes, Self.slice)
        completion.add(count)
        let piece = FileRegion(fileHandle: rest.fileHandle, readerIndex: rest.readerIndex, endIndex: rest.readerIndex + count)
        guard count < rest.readableBytes else {
            region = nil
            return promise.map { .notifying(.fileRegion(piece), $0) } ?? .fileRegion(piece)
        }
        region = (FileRegion(fileHandle: rest.fileHandle, readerIndex: rest.readerIndex + count, endIndex: rest.endIndex), promise)
        return .fileRegion(piece)
    }

    mutating func cancel() {
        region?.promise?.fail(ChannelError.ioOnClosedChannel)
        region = nil
        inner.cancel()
        completion.finish()
    }
}

/// Counts the body bytes a streaming handler writes.
struct CountingSink: BodySink {
    let inner: any BodySink
    let completion: BodyCompletion

    func write(_ bytes: ByteBuffer) async throws {
        try await inner.write(bytes)
        completion.add(bytes.readableBytes)
    }
}
