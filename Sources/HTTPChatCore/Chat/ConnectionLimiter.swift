import NIOCore

/// Caps the open connections of a listening channel. At the cap it stops asking the socket to accept, so new
/// clients wait in the kernel's backlog (nginx's `worker_connections` behaves so) instead of being accepted
/// and dropped; a close below the cap resumes accepting.
///
/// The listener accepts one socket per read event when a cap is set (`maxMessagesPerRead` 1), but a read the
/// channel had already asked for may still accept one past the cap. Such a socket is never closed (closing it
/// reset a client that had done nothing wrong): it is held here, first in first out, before the bootstrap's
/// accept handler has seen it, so it is not registered with an event loop and nothing reads it; the client's
/// bytes wait in the kernel as they would in the backlog. A close hands the oldest held socket on before the
/// listener accepts again. Held sockets are closed when the listener closes.
final class ConnectionLimiter: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = any Channel

    private let limit: Int
    /// Connections handed on and not yet closed.
    private var open = 0
    /// Accepted past the cap, oldest first: not yet handed on.
    private var held = CircularBuffer<any Channel>()
    private var readHeld = false
    /// Set once the listener closed: nothing is handed on after it.
    private var listenerClosed = false

    /// - Parameter limit: the cap, positive (``ChatListener/bind(host:port:configuration:group:backlog:maxConnections:reusePort:transport:makeProtocol:)`` checks it).
    init(limit: Int) {
        self.limit = limit
    }

    /// The number of accepted sockets waiting for a slot (for tests).
    var heldCount: Int { held.count }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        if open < limit && held.isEmpty {
            handOn(child, context: context)
        } else {
            held.append(child)
        }
    }

    func read(context: ChannelHandlerContext) {
        if open + held.count >= limit {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        listenerClosed = true
        closeHeld()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        listenerClosed = true
        closeHeld()
    }

    private func handOn(_ child: any Channel, context: ChannelHandlerContext) {
        open += 1
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        child.closeFuture.whenComplete { _ in
            loop.execute {
                let (limiter, context) = bound.value
                limiter.closed(context: context)
            }
        }
        context.fireChannelRead(wrapInboundOut(child))
    }

    private func closed(context: ChannelHandlerContext) {
        open -= 1
        guard !listenerClosed else { return }
        while open < limit, let next = held.popFirst() {
            handOn(next, context: context)
        }
        if readHeld && open + held.count < limit {
            readHeld = false
            context.read()
        }
    }

    private func closeHeld() {
        while let child = held.popFirst() { child.close(promise: nil) }
    }
}
