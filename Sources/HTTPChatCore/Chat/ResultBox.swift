package import NIOCore
import NIOConcurrencyHelpers

/// A read's result, handed from the future's callback to the next pull.
package final class ResultBox: Sendable {
    private let box = NIOLockedValueBox<Result<ByteBuffer, any Error>?>(nil)
    package func put(_ result: Result<ByteBuffer, any Error>) { box.withLockedValue { $0 = result } }
    package func take() -> Result<ByteBuffer, any Error>? { box.withLockedValue { r in defer { r = nil }; return r } }

    /// Boxes the result of an off-loop `read` for the producer's next pull; the producer answers the current
    /// pull with `output` (a wait for the read).
    package static func awaiting(_ read: EventLoopFuture<ByteBuffer>) -> (box: ResultBox, output: ChatProducerOutput) {
        let box = ResultBox()
        read.whenComplete { box.put($0) }
        return (box, .wait(read.map { _ in }))
    }
}
