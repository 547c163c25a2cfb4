import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// What a producer handed out on one pull, with the bytes copied out so a table can compare them.
enum Pulled: Equatable, CustomStringConvertible {
    case bytes([UInt8])
    case fileRegion(Range<Int>)
    case notifyingBytes([UInt8])
    case notifyingFile(Range<Int>)
    case wait
    case park
    case end
    case abort

    init(_ output: ChatProducerOutput) {
        switch output {
        case .bytes(let b): self = .bytes(Array(b.readableBytesView))
        case .fileRegion(let r): self = .fileRegion(r.readerIndex..<r.endIndex)
        case .notifying(.byteBuffer(let b), _): self = .notifyingBytes(Array(b.readableBytesView))
        case .notifying(.fileRegion(let r), _): self = .notifyingFile(r.readerIndex..<r.endIndex)
        case .wait: self = .wait
        case .park: self = .park
        case .end: self = .end
        case .abort: self = .abort
        }
    }

    var description: String {
        switch self {
        case .bytes(let b): "bytes(\(String(decoding: b, as: UTF8.self).debugDescription))"
        case .fileRegion(let r): "fileRegion(\(r))"
        case .notifyingBytes(let b): "notifying(\(String(decoding: b, as: UTF8.self).debugDescription))"
        case .notifyingFile(let r): "notifyingFile(\(r))"
        case .wait: "wait"
        case .park: "park"
        case .end: "end"
        case .abort: "abort"
        }
    }
}

/// What a scripted producer was told, shared with the test (producers are values, copied on push).
final class ProducerCalls: Sendable {
    private let state = NIOLockedValueBox((pulls: 0, cancels: 0))
    var pulls: Int { state.withLockedValue { $0.pulls } }
    var cancels: Int { state.withLockedValue { $0.cancels } }
    func pulled() { state.withLockedValue { $0.pulls += 1 } }
    func cancelled() { state.withLockedValue { $0.cancels += 1 } }
}

/// A producer that hands out a fixed list of outputs, then `.end`, recording pulls and cancels.
struct ScriptedProducer: ChatProducer {
    /// One scripted output; futures and promises are made on the pulling context's loop.
    enum Step: Sendable {
        case bytes([UInt8])
        case text(String)
        case fileRegion(FileRegion)
        /// Bytes with a completion promise, handed to `promises` so the test can see it completed.
        case notifying([UInt8], PromiseLog)
        /// A wait on an already succeeded future.
        case wait
        case end
        case abort
    }

    var steps: [Step]
    let calls: ProducerCalls

    init(_ steps: [Step], calls: ProducerCalls = ProducerCalls()) {
        self.steps = steps
        self.calls = calls
    }

    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        calls.pulled()
        guard !steps.isEmpty else { return .end }
        switch steps.removeFirst() {
        case .bytes(let b): return .bytes(context.allocator.buffer(bytes: b))
        case .text(let s): return .bytes(context.allocator.buffer(string: s))
        case .fileRegion(let r): return .fileRegion(r)
        case .notifying(let b, let log):
            let promise = context.eventLoop.makePromise(of: Void.self)
            log.add(promise.futureResult)
            return .notifying(.byteBuffer(context.allocator.buffer(bytes: b)), promise)
        case .wait: return .wait(context.eventLoop.makeSucceededVoidFuture())
        case .end: return .end
        case .abort: return .abort
        }
    }

    mutating func cancel() { calls.cancelled() }
}

/// The futures of the promises a scripted producer handed out, to learn how they completed.
final class PromiseLog: Sendable {
    private let futures = NIOLockedValueBox<[EventLoopFuture<Void>]>([])
    func add(_ future: EventLoopFuture<Void>) { futures.withLockedValue { $0.append(future) } }
    var all: [EventLoopFuture<Void>] { futures.withLockedValue { $0 } }

    /// How each promise completed: nil while pending, else success or the error's type name.
    func outcomes() async -> [String] {
        var out: [String] = []
        for future in all {
            do {
                try await future.get()
                out.append("succeeded")
            } catch {
                out.append("failed: \(type(of: error))")
            }
        }
        return out
    }
}

/// A producer pull on one of NIO's shared loops (its context's waker ends a `parked()` wait).
func detachedPull(chunkSize: Int = 64 * 1024) -> DetachedProducerPull {
    DetachedProducerPull(
        allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.any(), preferredChunkSize: chunkSize
    )
}

/// A producer context on one of NIO's shared loops.
func producerContext(chunkSize: Int = 64 * 1024) -> ChatProducerContext {
    detachedPull(chunkSize: chunkSize).context
}

/// Pulls `producer` as the chat channel would, up to `limit` pulls: empty bytes are skipped, waits are awaited
/// (a park until the context's waker is woken), notifying writes are completed (succeeded) as the channel does
/// once they are written. Returns every non-empty piece and the final `.end` or `.abort` (nothing final if the
/// limit was reached first).
func pullAll(
    _ producer: inout some ChatProducer, context: ChatProducerContext? = nil, pull: DetachedProducerPull = detachedPull(),
    limit: Int = 100_000
) async throws -> [Pulled] {
    var out: [Pulled] = []
    let ownContext = context == nil
    let context = context ?? pull.context
    for _ in 0..<limit {
        let output = producer.more(context)
        switch output {
        case .bytes(let b) where b.readableBytes == 0:
            continue
        case .wait(let future):
            try? await future.get()
            continue
        case .park:
            // Only `pull`'s own context wakes `parked()`; a park under another context would wait forever.
            guard ownContext else {
                Issue.record("the producer parked under a context whose waker nobody wakes")
                return out
            }
            await pull.parked()
            continue
        case .notifying(_, let promise):
            out.append(Pulled(output))
            promise.succeed(())
        case .end, .abort:
            out.append(Pulled(output))
            return out
        default:
            out.append(Pulled(output))
        }
    }
    return out
}

/// The bytes of pieces, file regions read from `fd` when given.
func concatenated(_ pieces: [Pulled], fd: CInt? = nil) throws -> [UInt8] {
    var out = ByteBuffer()
    for piece in pieces {
        switch piece {
        case .bytes(let b), .notifyingBytes(let b): out.writeBytes(b)
        case .fileRegion(let r), .notifyingFile(let r):
            guard let fd else { continue }
            try out.writePositionalRead(fd: fd, offset: r.lowerBound, count: r.count)
        case .wait, .park, .end, .abort: break
        }
    }
    return Array(out.readableBytesView)
}
