public import NIOCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a streamed response body (see ``ResponseBody/stream(length:_:)``). Each ``write(_:)`` returns once
/// the connection can take more, so a fast handler cannot outrun a slow client.
public struct BodyWriter: Sendable {
    let sink: any BodySink

    init(_ sink: any BodySink) { self.sink = sink }

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
    /// The body's producer failed before its end (``ChatProducerOutput/abort``): the body is incomplete.
    case aborted
}

protocol BodySink: Sendable {
    func write(_ bytes: ByteBuffer) async throws
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

/// The bridge between a handler writing a body and the connection pulling it: a ``ChatProducer`` on one side,
/// a ``BodySink`` on the other, with a bounded queue between them.
final class StreamBridge: BodySink, @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NIOLock()
    private var queue: [ByteBuffer] = []
    private var queuedBytes = 0
    private var finished = false
    private var failed = false
    private var writerWaiting: CheckedContinuation<Void, any Error>?
    private var producerWaiting: EventLoopPromise<Void>?
    private let highWaterMark: Int
    private let lowWaterMark: Int

    init(highWaterMark: Int = 64 * 1024, lowWaterMark: Int = 16 * 1024) {
        self.highWaterMark = highWaterMark
        self.lowWaterMark = lowWaterMark
    }

    func write(_ bytes: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (wake, resume): (EventLoopPromise<Void>?, Bool?) = lock.withLock {
                if failed || finished { return (nil, false) }
                queue.append(bytes)
                queuedBytes += bytes.readableBytes
                let wake = producerWaiting
                producerWaiting = nil
                if queuedBytes <= highWaterMark { return (wake, true) }
                writerWaiting = continuation
                return (wake, nil)
            }
            wake?.succeed(())
            switch resume {
            case true?: continuation.resume()
            case false?: continuation.resume(throwing: BodyWriterError.connectionClosed)
            case nil: break
            }
        }
    }

    /// The handler returned: the body ends after what is queued.
    func finish() {
        let wake: EventLoopPromise<Void>? = lock.withLock {
            finished = true
            defer { producerWaiting = nil }
            return producerWaiting
        }
        wake?.succeed(())
    }

    /// The connection went away, or the writer failed: writers fail from now on, and the connection, if it
    /// still pulls, aborts instead of ending the body.
    func fail() {
        let (writer, wake): (CheckedContinuation<Void, any Error>?, EventLoopPromise<Void>?) = lock.withLock {
            failed = true
            queue.removeAll()
            defer {
                writerWaiting = nil
                producerWaiting = nil
            }
            return (writerWaiting, producerWaiting)
        }
        writer?.resume(throwing: BodyWriterError.connectionClosed)
        wake?.succeed(())
    }

    /// The producer side, pulled by the connection.
    func pull(_ context: ChatProducerContext) -> ChatProducerOutput {
        let (output, writer): (ChatProducerOutput, CheckedContinuation<Void, any Error>?) = lock.withLock {
            if !queue.isEmpty {
                let chunk = queue.removeFirst()
                queuedBytes -= chunk.readableBytes
                var writer: CheckedContinuation<Void, any Error>?
                if queuedBytes <= lowWaterMark {
                    writer = writerWaiting
                    writerWaiting = nil
                }
                return (.bytes(chunk), writer)
            }
            if failed { return (.abort, nil) }
            if finished { return (.end, nil) }
            let promise = context.eventLoop.makePromise(of: Void.self)
            producerWaiting = promise
            return (.wait(promise.futureResult), nil)
        }
        writer?.resume()
        return output
    }
}

/// The producer face of a ``StreamBridge``.
struct StreamBridgeProducer: ChatProducer {
    let bridge: StreamBridge
    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput { bridge.pull(context) }
    mutating func cancel() { bridge.fail() }
}

extension ByteBuffer {
    /// Appends `count` bytes read with `pread` from `fd` at `offset` (blocking: not for event loops).
    mutating func writePositionalRead(fd: CInt, offset: Int, count: Int) throws {
        var remaining = count
        var at = offset
        while remaining > 0 {
            let n = writeWithUnsafeMutableBytes(minimumWritableBytes: Swift.min(remaining, 1 << 20)) { buffer in
                pread(fd, buffer.baseAddress, Swift.min(buffer.count, remaining), off_t(at))
            }
            guard n > 0 else { throw IOError(errnoCode: errno, reason: "pread") }
            remaining -= n
            at += n
        }
    }
}
