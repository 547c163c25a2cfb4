import HTTPChatCore
import NIOCore

/// Holds a producer to the length its response declared in `Content-Length`: output past the length, or an
/// end before it, aborts the connection instead of going out. Without it a body that produced more than it
/// declared wrote the extra bytes where the client reads the next response (response splitting), and one that
/// produced fewer left the client reading the next response as the rest of this body.
struct DeclaredLengthProducer<Inner: ChatProducer>: ChatProducer {
    private var inner: Inner
    private var remaining: Int

    /// Why a write was refused (the promise of a notifying piece past the length fails with it).
    struct Overrun: Error {}

    /// Wraps `inner`, which must produce exactly `length` bytes.
    init(_ inner: Inner, length: Int) {
        self.inner = inner
        self.remaining = length
    }

    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        let output = inner.more(context)
        switch output {
        case .bytes(let bytes):
            return take(bytes.readableBytes, output)
        case .fileRegion(let region):
            return take(region.readableBytes, output)
        case .notifying(let data, let promise):
            let taken = take(data.readableBytes, output)
            if case .abort = taken { promise.fail(Overrun()) }
            return taken
        case .wait, .park:
            return output
        case .end:
            return remaining == 0 ? .end : .abort  // short: the client must not take it as whole
        case .abort:
            return .abort
        }
    }

    private mutating func take(_ count: Int, _ output: ChatProducerOutput) -> ChatProducerOutput {
        guard count <= remaining else {
            inner.cancel()
            return .abort
        }
        remaining -= count
        return output
    }

    mutating func cancel() { inner.cancel() }
}
