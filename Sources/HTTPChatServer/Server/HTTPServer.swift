import HTTPChatCore
public import Logging
public import NIOCore
public import NIOSSL
import NIOPosix
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP/1.1 server: a ``/HTTPChatCore/ChatListener`` whose connections speak HTTP to a responder.
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
    /// The listening sockets: one, or two for `localhost` (127.0.0.1 and ::1, on the same port).
    private let listeners: [ChatListener]
    private var listener: ChatListener { listeners[0] }
    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let credentials: TLSCredentials?
    /// The one shutdown, shared by every caller. Later callers await it through Swift concurrency: once the
    /// server's own loops are gone, a NIO future callback would never run.
    private let shutdownTask = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// Told when the shutdown begins; the delay before accepting stops (``ServerConfiguration/drainDelay``).
    private let readiness: Readiness?
    private let drainDelay: Duration

    /// The bound address (the first, when there are several).
    public var localAddress: SocketAddress { listener.localAddress }
    /// Every bound address: `localhost` listens on 127.0.0.1 and on ::1 (when the machine has IPv6).
    public var localAddresses: [SocketAddress] { listeners.map(\.localAddress) }
    /// The bound port (the real one when port 0 was asked for).
    public var port: Int { listener.port }
    /// Open connections.
    public var connectionCount: Int { listeners.reduce(0) { $0 + $1.connectionCount } }
    /// Whether the server speaks HTTPS (``ServerConfiguration/tls`` was set).
    public var isTLS: Bool { credentials != nil }
    /// `"https"` or `"http"`, for the server's URL.
    public var scheme: String { isTLS ? "https" : "http" }

    private let closed = AsyncLatch()

    private init(
        listeners: [ChatListener], ownedGroup: MultiThreadedEventLoopGroup?, credentials: TLSCredentials?,
        readiness: Readiness?, drainDelay: Duration
    ) {
        self.listeners = listeners
        self.readiness = readiness
        self.drainDelay = drainDelay
        self.ownedGroup = ownedGroup
        self.credentials = credentials
        let closed = self.closed
        let open = NIOLockedValueBox(listeners.count)
        for listener in listeners {
            listener.onClose.whenComplete { _ in  // registered while the loops are alive
                if open.withLockedValue({ $0 -= 1; return $0 == 0 }) { closed.open() }
            }
        }
    }

    /// The addresses to listen on for `host`: `localhost` is both loopbacks, as clients may resolve it to
    /// either (curl and browsers try ::1 first).
    static func addresses(for host: String) -> [String] {
        host.lowercased() == "localhost" ? ["127.0.0.1", "::1"] : [host]
    }

    /// Binds and starts serving.
    ///
    /// - Parameters:
    ///   - configuration: address, threads, limits.
    ///   - responder: answers every request.
    ///   - group: event loops to run on (an application's existing group); nil makes a group of
    ///     ``ServerConfiguration/threads`` threads, shut down with the server.
    ///   - logger: where errors and (at debug level) rejected requests and failed TLS handshakes are
    ///     logged; TLS warnings (a certificate that expired) at warning level.
    /// - Returns: the running server.
    /// - Throws: when the address cannot be bound; ``TLSSettingsError`` when the TLS files cannot be used;
    ///   ``ServerConfigurationError`` when ``ServerConfiguration/proxyProtocol`` has no trusted proxies or is
    ///   combined with ``ServerConfiguration/tls``.
    public static func start(
        configuration: ServerConfiguration = ServerConfiguration(),
        responder: any HTTPResponder,
        group: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "httpchat")
    ) async throws -> HTTPServer {
        if configuration.proxyProtocol && configuration.trustedProxies.isEmpty {
            throw ServerConfigurationError(
                "the PROXY protocol needs trusted proxies: every connection from another address is closed"
            )
        }
        if configuration.proxyProtocol && configuration.tls != nil {
            // The header comes before the TLS handshake on the wire, but the reader runs on the chat layer,
            // above TLS: every connection would fail its handshake on the header's bytes.
            throw ServerConfigurationError(
                "the PROXY protocol cannot be combined with TLS here: the header is read after the TLS layer; terminate TLS at the proxy"
            )
        }
        var credentials: TLSCredentials?
        if let tls = configuration.tls {
            let (loaded, warnings) = try await TLSCredentials.load(tls)
            for warning in warnings { logger.warning("\(warning)") }
            credentials = loaded
        }
        let owned = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads)) : nil
        var chat = configuration.chat
        chat.maxDelimitedLength = configuration.limits.maxHeaderBytes
        let context = HTTPConnectionContext(
            responder: responder, limits: configuration.limits, logger: logger, isTLS: credentials != nil,
            metrics: configuration.metricsFactory.map(ConnectionMetrics.init),
            trustedProxies: configuration.trustedProxies, responseHeaders: configuration.responseHeaders
        )
        let transport = credentials.map { ChatTransport.tls($0, logger: logger) } ?? .plain
        let makeProtocol: @Sendable () -> any ChatProtocol
        if configuration.proxyProtocol {
            // The PROXY header is read on the chat layer before HTTP starts; only trusted peers get that far.
            let (trusted, timeout) = (configuration.trustedProxies, configuration.proxyHeaderTimeout)
            makeProtocol = { ProxyProtocolReader(trusted: trusted, timeout: timeout) { HTTPConnection(context: context) } }
        } else {
            makeProtocol = { HTTPConnection(context: context) }
        }
        let bind = { (host: String, port: Int) in
            try await ChatListener.bind(
                host: host,
                port: port,
                configuration: chat,
                group: group ?? owned!,
                backlog: configuration.backlog,
                maxConnections: configuration.maxConnections,
                reusePort: configuration.reusePort,
                transport: transport,
                makeProtocol: makeProtocol
            )
        }
        let made = { (listeners: [ChatListener]) in
            HTTPServer(
                listeners: listeners, ownedGroup: owned, credentials: credentials,
                readiness: configuration.readiness, drainDelay: configuration.drainDelay
            )
        }
        if !configuration.listeningDescriptors.isEmpty {
            var listeners: [ChatListener] = []
            do {
                for descriptor in configuration.listeningDescriptors {
                    listeners.append(
                        try await ChatListener.bind(
                            descriptor: descriptor, configuration: chat, group: group ?? owned!,
                            maxConnections: configuration.maxConnections, transport: transport,
                            makeProtocol: makeProtocol
                        )
                    )
                }
            } catch {
                for listener in listeners { await listener.shutdown(gracePeriod: .zero) }
                try? await owned?.shutdownGracefully()
                throw error
            }
            return made(listeners)
        }
        do {
            let hosts = addresses(for: configuration.host)
            var attempt = 0
            while true {
                attempt += 1
                let first = try await bind(hosts[0], configuration.port)
                var listeners = [first]
                do {
                    for host in hosts.dropFirst() {
                        do {
                            listeners.append(try await bind(host, first.port))
                        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL || error.errnoCode == EAFNOSUPPORT {
                            logger.debug("not listening on \(host): \(error)")  // no IPv6 here
                        }
                    }
                } catch let error as IOError where error.errnoCode == EADDRINUSE && configuration.port == 0 && attempt < 5 {
                    // The port picked on 127.0.0.1 is taken on ::1: pick another pair.
                    for listener in listeners { await listener.shutdown(gracePeriod: .zero) }
                    continue
                } catch {
                    for listener in listeners { await listener.shutdown(gracePeriod: .zero) }
                    throw error
                }
                return made(listeners)
            }
        } catch {
            try? await owned?.shutdownGracefully()
            throw error
        }
    }

    /// Loads TLS settings again (nil: the same files, read anew, for a renewed certificate) and uses them for
    /// the handshakes that follow; connections already open keep theirs. When the new pair cannot be used
    /// (a file missing, a key that does not match), the current one stays and the error says why.
    ///
    /// - Parameter settings: the new settings, or nil for the current ones' files.
    /// - Returns: warnings about the new certificate (it expired, say).
    /// - Throws: ``TLSSettingsError``, also when the server does not speak TLS.
    @discardableResult
    public func reloadTLS(_ settings: TLSSettings? = nil) async throws -> [String] {
        guard let credentials else { throw TLSSettingsError("the server does not speak TLS: there is nothing to reload") }
        return try await credentials.reload(settings)
    }

    /// The certificate new TLS handshakes present: its expiry, say, after a reload. Nil without TLS.
    public var certificate: NIOSSLCertificate? { credentials?.leafCertificate }

    /// Graceful shutdown: tells ``ServerConfiguration/readiness`` (a ``HealthCheck`` answers 503 from then
    /// on) and keeps serving for ``ServerConfiguration/drainDelay``; then stops accepting, lets requests in
    /// flight finish (their responses say `Connection: close`), closes connections with no request in progress
    /// once ``/HTTPChatCore/HTTPLimits/shutdownIdleGrace`` passes without one (a request already on its way is answered,
    /// with `Connection: close`), and closes whatever remains when the grace period ends. Then stops the server's own event loops, if it made them.
    ///
    /// - Parameter gracePeriod: how long requests in flight may take.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        let task = shutdownTask.withLockedValue { task -> Task<Void, Never> in
            if let task { return task }
            let listeners = self.listeners
            let group = self.ownedGroup
            let (readiness, drainDelay) = (self.readiness, self.drainDelay)
            let made = Task {
                readiness?.drain()
                if drainDelay > .zero { try? await Task.sleep(for: drainDelay) }
                await withTaskGroup(of: Void.self) { tasks in
                    for listener in listeners { tasks.addTask { await listener.shutdown(gracePeriod: gracePeriod) } }
                }
                try? await group?.shutdownGracefully()
            }
            task = made
            return made
        }
        await task.value
    }

    /// Returns when the listening socket has closed (after ``shutdown(gracePeriod:)``).
    ///
    /// - Throws: nothing today; kept throwing so a future close error can be reported.
    public func waitUntilClosed() async throws {
        await closed.wait()
    }
}

/// A ``ServerConfiguration`` the server cannot run with.
public struct ServerConfigurationError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, and what to do.
    public let description: String

    /// An error with its explanation.
    ///
    /// - Parameter description: what is wrong.
    public init(_ description: String) { self.description = description }
}

/// A one-way gate for Swift concurrency: `wait()` returns once `open()` has been called, before or after.
final class AsyncLatch: Sendable {
    private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { s -> Bool in
                if s.open { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
