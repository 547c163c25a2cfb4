public import Logging
public import NIOCore
import NIOPosix

/// An HTTP/1.1 server: a ``ChatListener`` whose connections speak HTTP to a responder.
///
/// ```swift
/// let router = Router()
/// router.get("/hello") { _ in .text("Hello") }
/// let server = try await HTTPServer.start(configuration: .init(host: "127.0.0.1", port: 0),
///                                         responder: try router.build())
/// print("http://127.0.0.1:\(server.port)/")
/// try await server.waitUntilClosed()
/// ```
public final class HTTPServer: Sendable {
    private let listener: ChatListener
    private let ownedGroup: MultiThreadedEventLoopGroup?

    /// The bound address.
    public var localAddress: SocketAddress { listener.localAddress }
    /// The bound port (the real one when port 0 was asked for).
    public var port: Int { listener.port }
    /// Open connections.
    public var connectionCount: Int { listener.connectionCount }

    private init(listener: ChatListener, ownedGroup: MultiThreadedEventLoopGroup?) {
        self.listener = listener
        self.ownedGroup = ownedGroup
    }

    /// Binds and starts serving.
    ///
    /// - Parameters:
    ///   - configuration: address, threads, limits.
    ///   - responder: answers every request.
    ///   - group: event loops to run on (an application's existing group); nil makes a group of
    ///     ``ServerConfiguration/threads`` threads, shut down with the server.
    ///   - logger: where errors and (at debug level) rejected requests are logged.
    /// - Returns: the running server.
    /// - Throws: when the address cannot be bound.
    public static func start(
        configuration: ServerConfiguration = ServerConfiguration(),
        responder: any HTTPResponder,
        group: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "httpchat")
    ) async throws -> HTTPServer {
        let owned = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads)) : nil
        var chat = configuration.chat
        chat.maxDelimitedLength = configuration.limits.maxHeaderBytes
        let context = HTTPConnectionContext(responder: responder, limits: configuration.limits, logger: logger)
        do {
            let listener = try await ChatListener.bind(
                host: configuration.host,
                port: configuration.port,
                configuration: chat,
                group: group ?? owned!,
                backlog: configuration.backlog
            ) {
                HTTPConnection(context: context)
            }
            return HTTPServer(listener: listener, ownedGroup: owned)
        } catch {
            try? await owned?.shutdownGracefully()
            throw error
        }
    }

    /// Graceful shutdown: stops accepting, lets requests in flight finish (their responses say
    /// `Connection: close`), closes idle connections at once, and closes whatever remains when the grace
    /// period ends. Then stops the server's own event loops, if it made them.
    ///
    /// - Parameter gracePeriod: how long requests in flight may take.
    public func shutdown(gracePeriod: TimeAmount = .seconds(10)) async {
        await listener.shutdown(gracePeriod: gracePeriod)
        try? await ownedGroup?.shutdownGracefully()
    }

    /// Returns when the listening socket has closed (after ``shutdown(gracePeriod:)``).
    ///
    /// - Throws: the listener's close error, if any.
    public func waitUntilClosed() async throws {
        try await listener.onClose.get()
    }
}
