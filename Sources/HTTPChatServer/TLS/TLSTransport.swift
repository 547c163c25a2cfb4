import HTTPChatCore
import Logging
import NIOCore
import NIOSSL
import NIOTLS

extension ChatTransport {
    /// TLS on every connection, with the context `credentials` holds when the connection is accepted.
    static func tls(_ credentials: TLSCredentials, logger: Logger) -> ChatTransport {
        ChatTransport(carriesFileRegions: false) { channel in
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(PlainHTTPOnTLSPort(logger: logger))
            try sync.addHandler(NIOSSLServerHandler(context: credentials.context))
            try sync.addHandler(TLSSessionObserver(logger: logger))
        }
    }
}

/// After the TLS handler: remembers what the handshake settled for the connection's requests, and logs a
/// failed handshake (a client that does not trust the certificate, one without a client certificate under
/// mutual TLS, a scanner) at debug level: the peer gets TLS's own alert and the close, nothing else.
final class TLSSessionObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let logger: Logger
    /// Set once the handshake completed.
    private(set) var info: TLSConnectionInfo?

    init(logger: Logger) {
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            info = TLSConnectionInfo(
                version: handler?.tlsVersion, applicationProtocol: negotiated, peerCertificate: handler?.peerCertificate
            )
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        if info == nil {
            logger.debug("TLS handshake failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
        } else {
            logger.debug("TLS error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
        context.fireErrorCaught(error)
    }
}

/// Before the TLS handler: a client speaking plain HTTP to the TLS port gets a short plain `400` saying to use
/// `https://` (as nginx does), instead of TLS's binary alert that a browser shows as garbage or a reset.
/// Anything else that is not a TLS handshake record is closed. Once the first byte shows a handshake, the
/// handler takes itself out of the pipeline.
final class PlainHTTPOnTLSPort: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let logger: Logger
    private var answered = false

    init(logger: Logger) {
        self.logger = logger
    }

    static let answer = """
        HTTP/1.1 400 Bad Request\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Length: 56\r
        Connection: close\r
        \r
        This port speaks HTTPS: use https:// instead of http://\n
        """

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if answered { return }  // the rest of the plain request: dropped
        let bytes = unwrapInboundIn(data)
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return }
        if first == 0x16 {  // a TLS handshake record
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else {
            logger.debug("not a TLS handshake: closed", metadata: ["peer": "\(peer)"])
            context.close(promise: nil)
            return
        }
        logger.debug("plain HTTP on the TLS port: answered 400", metadata: ["peer": "\(peer)"])
        answered = true
        // The answer goes around the TLS handler (this handler is before it), then the output is shut and the
        // connection closes when the client closes or after two seconds, so the client's own unread bytes
        // cannot make the kernel reset the answer away.
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: Self.answer))).assumeIsolated()
            .whenComplete { _ in
                context.close(mode: .output, promise: nil)
                _ = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
            }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if answered, case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
