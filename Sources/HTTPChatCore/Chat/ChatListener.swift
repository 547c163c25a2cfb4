public import NIOCore
public import NIOPosix
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A listening socket that makes one chat connection per accepted client (asyncore's server `dispatcher`).
///
/// ```swift
/// let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) { EchoProtocol() }
/// print("listening on port \(listener.port)")
/// try await listener.shutdown(gracePeriod: .seconds(5))
/// ```
public final class ChatListener: Sendable {
    /// The address the socket is bound to (with the real port when port 0 was asked for).
    public let localAddress: SocketAddress
    /// The bound port.
    public var port: Int { localAddress.port ?? 0 }

    private let serverChannel: any Channel
    private let connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>

    private init(serverChannel: any Channel, connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.localAddress = serverChannel.localAddress!
    }

    /// Binds and starts accepting.
    ///
    /// - Parameters:
    ///   - host: the address to bind, for example `"127.0.0.1"` or `"::"`.
    ///   - port: the port; `0` picks a free one (read it from ``port``).
    ///   - configuration: buffer sizes and bounds for every connection.
    ///   - group: the event loops to run on; connections are spread across them.
    ///   - backlog: the listen backlog.
    ///   - maxConnections: the most connections open at once; past it, new clients wait in the backlog until
    ///     one closes. Default unlimited.
    ///   - reusePort: sets `SO_REUSEPORT`, so that other sockets (another process of the same user, during a
    ///     rolling restart) can listen on the same address and port; the kernel spreads connections across
    ///     them. Default false.
    ///   - transport: what runs between each socket and the chat layer (TLS, say); default plain TCP.
    ///   - makeProtocol: called on the connection's event loop for each accepted connection.
    /// - Returns: the running listener.
    /// - Throws: the socket error when the address cannot be bound.
    public static func bind(
        host: String,
        port: Int,
        configuration: ChatConfiguration = ChatConfiguration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        backlog: Int32 = 256,
        maxConnections: Int = .max,
        reusePort: Bool = false,
        transport: ChatTransport = .plain,
        makeProtocol: @escaping @Sendable () -> any ChatProtocol
    ) async throws -> ChatListener {
        let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        var bootstrap = Self.bootstrap(
            configuration: configuration, group: group, backlog: backlog, maxConnections: maxConnections,
            transport: transport, connections: connections, makeProtocol: makeProtocol
        )
        if reusePort {
            // NIO names no SO_REUSEPORT option: SOL_SOCKET level, the platform's constant.
            let option = ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT))
            bootstrap = bootstrap.serverChannelOption(option, value: 1)
        }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return ChatListener(serverChannel: channel, connections: connections)
    }

    /// Starts accepting on a socket that is already bound and listening: one passed in by systemd's socket
    /// activation (descriptor 3 and up), or by a parent process. The listener owns it from here on and closes
    /// it on ``shutdown(gracePeriod:)``.
    ///
    /// ```swift
    /// let listener = try await ChatListener.bind(descriptor: 3) { EchoProtocol() }
    /// ```
    ///
    /// - Parameters:
    ///   - descriptor: the listening socket's descriptor.
    ///   - configuration: buffer sizes and bounds for every connection.
    ///   - group: the event loops to run on.
    ///   - maxConnections: the most connections open at once (default unlimited).
    ///   - transport: what runs between each socket and the chat layer.
    ///   - makeProtocol: called on the connection's event loop for each accepted connection.
    /// - Returns: the running listener.
    /// - Throws: when the descriptor is not a listening socket NIO can use.
    public static func bind(
        descriptor: Int32,
        configuration: ChatConfiguration = ChatConfiguration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxConnections: Int = .max,
        transport: ChatTransport = .plain,
        makeProtocol: @escaping @Sendable () -> any ChatProtocol
    ) async throws -> ChatListener {
        let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let bootstrap = Self.bootstrap(
            configuration: configuration, group: group, backlog: nil, maxConnections: maxConnections,
            transport: transport, connections: connections, makeProtocol: makeProtocol
        )
        let channel = try await bootstrap.withBoundSocket(descriptor).get()
        return ChatListener(serverChannel: channel, connections: connections)
    }

    /// The bootstrap both ways of binding share: accept back-off, the connection cap, the per-connection
    /// options, and the chat channel on every accepted socket.
    private static func bootstrap(
        configuration: ChatConfiguration,
        group: any EventLoopGroup,
        backlog: Int32?,
        maxConnections: Int,
        transport: ChatTransport,
        connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>,
        makeProtocol: @escaping @Sendable () -> any ChatProtocol
    ) -> ServerBootstrap {
        configuration.validate()
        precondition(maxConnections > 0, "maxConnections must be positive")
        var bootstrap = ServerBootstrap(group: group)
        if let backlog {
            bootstrap = bootstrap
                .serverChannelOption(.backlog, value: backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        }
        if maxConnections < .max {
            // One accept per read event: at the cap the limiter stops asking for reads, so clients wait in the
            // backlog; NIO's default (4 per read) accepted sockets past the cap that then had to be held.
            bootstrap = bootstrap.serverChannelOption(.maxMessagesPerRead, value: 1)
        }
        return bootstrap
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Out of descriptors (EMFILE, ENFILE), accept would fail at once on every loop turn: back
                    // off for a moment instead of spinning, and accept again once descriptors are free.
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler(shouldForwardIOErrorCaught: false))
                    if maxConnections < .max {
                        try channel.pipeline.syncOperations.addHandler(ConnectionLimiter(limit: maxConnections))
                    }
                }
            }
            // TCP level: `.socketOption(.tcp_nodelay)` would set SOL_SOCKET option 1, which is SO_DEBUG (strace
            // showed it on every accepted socket; Nagle stayed off only because accepted sockets inherit the
            // listener's TCP_NODELAY, which NIO sets).
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: configuration.outputLowWaterMark, high: configuration.outputHighWaterMark)
            )
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(
                    minimum: 64,
                    initial: configuration.inBufferSize,
                    maximum: max(configuration.inBufferSize, 64 * 1024)
                )
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = ObjectIdentifier(channel)
                    connections.withLockedValue { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in
                        _ = connections.withLockedValue { $0.removeValue(forKey: id) }
                    }
                    try transport.prepare(channel)
                    try ChatChannel.serve(
                        makeProtocol(), configuration: configuration, on: channel,
                        carriesFileRegions: transport.carriesFileRegions
                    )
                }
            }
    }

    /// The number of open connections.
    public var connectionCount: Int { connections.withLockedValue { $0.count } }

    /// Stops accepting, asks every connection's protocol to wind down (``ChatProtocol/shutdownRequested(chat:)``,
    /// by default close after pending output), and closes whatever is still open when `gracePeriod` ends.
    ///
    /// - Parameter gracePeriod: how long connections may take to finish.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        try? await serverChannel.close()
        let open = connections.withLockedValue { Array($0.values) }
        // One task per event loop tells all of its connections, so on a loop no request is answered between
        // two of its connections hearing of the shutdown.
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, channels: [any Channel])] = [:]
        for channel in open {
            byLoop[ObjectIdentifier(channel.eventLoop), default: (channel.eventLoop, [])].channels.append(channel)
        }
        for (loop, channels) in byLoop.values {
            loop.execute {
                for channel in channels { channel.pipeline.fireUserInboundEventTriggered(ChatShutdownEvent()) }
            }
        }
        let deadline = NIODeadline.now() + gracePeriod
        for channel in open {
            let remaining = deadline - NIODeadline.now()
            if remaining > .zero {
                let timer = channel.eventLoop.scheduleTask(in: remaining) { channel.close(promise: nil) }
                try? await channel.closeFuture.get()
                timer.cancel()
            } else {
                try? await channel.close()
            }
        }
    }

    /// Completes when the listening socket is closed.
    public var onClose: EventLoopFuture<Void> { serverChannel.closeFuture }
}
