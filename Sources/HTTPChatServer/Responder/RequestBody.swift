public import HTTPTypes
public import NIOCore
import NIOConcurrencyHelpers

/// A request body: bytes already collected, or a stream read from the connection with backpressure.
///
/// Small bodies of known length arrive collected (up to ``/HTTPChatCore/HTTPLimits/maxCollectedBodyBytes``); larger and chunked
/// bodies stream: while the responder does not read, the connection stops reading the socket.
///
/// ```swift
/// let all = try await request.body.collect(upTo: 1 << 20)
/// // or
/// for try await chunk in request.body { try await file.write(chunk) }
/// ```
public struct RequestBody: AsyncSequence, Sendable {
    /// The element: a chunk of the body.
    public typealias Element = ByteBuffer

    typealias Stream = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyStreamDelegate
    >

    enum Storage: Sendable {
        case bytes(ByteBuffer)
        case stream(Stream, BodyStreamDelegate)
    }

    let storage: Storage

    /// The length announced by `Content-Length`, when known.
    public let knownLength: Int?

    /// No body.
    public static let empty = RequestBody(bytes: ByteBuffer())

    /// A body of these bytes (for in-process tests and for bodies the server collected).
    ///
    /// - Parameter bytes: the whole body.
    public init(bytes: ByteBuffer) {
        self.storage = .bytes(bytes)
        self.knownLength = bytes.readableBytes
    }

    /// A body of the UTF-8 bytes of `string`.
    ///
    /// - Parameter string: the whole body.
    public init(string: String) {
        self.init(bytes: ByteBuffer(string: string))
    }

    init(stream: Stream, delegate: BodyStreamDelegate, knownLength: Int?) {
        self.storage = .stream(stream, delegate)
        self.knownLength = knownLength
    }

    /// The whole body when it was collected before the responder ran (small bodies of known length), else nil.
    public var bufferedBytes: ByteBuffer? {
        if case .bytes(let bytes) = storage { return bytes }
        return nil
    }

    /// Trailer fields of a chunked body, once it has been read to its end.
    public var trailers: HTTPFields? {
        if case .stream(_, let delegate) = storage { return delegate.trailers }
        return nil
    }

    /// Reads the whole body.
    ///
    /// - Parameter maxBytes: the most bytes to accept.
    /// - Returns: the body.
    /// - Throws: ``HTTPError`` 413 when the body is longer than `maxBytes`; the connection's error when the
    ///   client went away or sent a malformed body.
    public func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        switch storage {
        case .bytes(let bytes):
            guard bytes.readableBytes <= maxBytes else { throw HTTPError(.contentTooLarge) }
            return bytes
        case .stream:
            if let knownLength, knownLength > maxBytes { throw HTTPError(.contentTooLarge) }
            var all = ByteBuffer()
            for try await var chunk in self {
                guard all.readableBytes + chunk.readableBytes <= maxBytes else { throw HTTPError(.contentTooLarge) }
                if all.readableBytes == 0 { all = chunk } else { all.writeBuffer(&chunk) }
            }
            return all
        }
    }

    /// Iterates the body's chunks.
    public func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .bytes(let bytes): return AsyncIterator(bytes: bytes.readableBytes > 0 ? bytes : nil, stream: nil, delegate: nil)
        case .stream(let stream, let delegate):
            return AsyncIterator(bytes: nil, stream: stream.makeAsyncIterator(), delegate: delegate)
        }
    }

    /// Iterates a ``RequestBody``.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: ByteBuffer?
        var stream: Stream.AsyncIterator?
        let delegate: BodyStreamDelegate?
        var started = false

        /// The next chunk, or nil at the end.
        ///
        /// - Throws: when the client went away or sent a malformed body.
        public mutating func next() async throws -> ByteBuffer? {
            if let b = bytes {
                bytes = nil
                return b
            }
            guard stream != nil else { return nil }
            if !started {
                started = true
                delegate?.bodyWanted()  // sends 100 Continue when the client asked for it
            }
            return try await stream!.next()
        }
    }
}

/// The connection's side of a streamed body: told when the consumer wants more, reads for the first time,
/// or goes away; holds the trailers.
final class BodyStreamDelegate: NIOAsyncSequenceProducerDelegate, Sendable {
    struct Callbacks: Sendable {
        var produceMore: @Sendable () -> Void
        var terminated: @Sendable () -> Void
        var wanted: @Sendable () -> Void
    }

    private let state = NIOLockedValueBox<(callbacks: Callbacks?, trailers: HTTPFields?, wanted: Bool)>((nil, nil, false))

    init(_ callbacks: Callbacks) {
        state.withLockedValue { $0.callbacks = callbacks }
    }

    var trailers: HTTPFields? { state.withLockedValue { $0.trailers } }

    func setTrailers(_ fields: HTTPFields?) { state.withLockedValue { $0.trailers = fields } }

    func produceMore() { state.withLockedValue { $0.callbacks }?.produceMore() }

    func didTerminate() {
        // Drop the callbacks: they reach the connection, which must not be kept alive by a body.
        let callbacks = state.withLockedValue { s -> Callbacks? in
            defer { s.callbacks = nil }
            return s.callbacks
        }
        callbacks?.terminated()
    }

    func bodyWanted() {
        let callbacks = state.withLockedValue { s -> Callbacks? in
            if s.wanted { return nil }
            s.wanted = true
            return s.callbacks
        }
        callbacks?.wanted()
    }
}
