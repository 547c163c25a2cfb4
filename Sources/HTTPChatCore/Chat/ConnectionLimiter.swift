import NIOCore

/// Caps the open connections of a listening channel. At the cap it stops asking the socket to accept, so new
/// clients wait in the kernel's backlog (nginx's `worker_connections` behaves so) instead of being accepted
/// and dropped; a close below the cap resumes accepting. One accept pass can take several clients at once;
/// any that arrive past the cap in that pass are closed at once.
final class ConnectionLimiter: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = any Channel

    private let limit: Int
    private var open = 0
    private var readHeld = false

    /// - Parameter limit: the cap, positive (``ChatListener/bind(host:port:configuration:group:backlog:maxConnections:makeProtocol:)`` checks it).
    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        guard open < limit else {
            child.close(promise: nil)
            return
        }
        open += 1
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        child.closeFuture.whenComplete { _ in
            loop.execute {
                let (limiter, context) = bound.value
                limiter.closed(context: context)
            }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if open >= limit {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func closed(context: ChannelHandlerContext) {
        open -= 1
        if readHeld && open < limit {
            readHeld = false
            context.read()
        }
    }
}
