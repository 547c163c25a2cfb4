public import ServiceLifecycle
public import Logging

/// An HTTP server as a swift-service-lifecycle `Service`: runs until cancelled or asked to shut down
/// gracefully, then shuts down within its grace period.
///
/// ```swift
/// let service = HTTPService(configuration: config, responder: try router.build())
/// let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct HTTPService: Service {
    /// The server's configuration.
    public let configuration: ServerConfiguration
    /// The responder.
    public let responder: any HTTPResponder
    /// How long in-flight requests may take on shutdown.
    public let gracePeriod: Duration
    /// The logger.
    public let logger: Logger
    private let onStart: @Sendable (HTTPServer) -> Void

    /// Creates the service.
    ///
    /// - Parameters:
    ///   - configuration: address, threads, limits.
    ///   - responder: answers every request.
    ///   - gracePeriod: how long in-flight requests may take on shutdown (default 10 s).
    ///   - logger: the logger.
    ///   - onStart: called once the server listens (to read its port, say).
    public init(
        configuration: ServerConfiguration,
        responder: any HTTPResponder,
        gracePeriod: Duration = .seconds(10),
        logger: Logger = Logger(label: "httpchat"),
        onStart: @escaping @Sendable (HTTPServer) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.responder = responder
        self.gracePeriod = gracePeriod
        self.logger = logger
        self.onStart = onStart
    }

    /// Serves until graceful shutdown or cancellation.
    ///
    /// - Throws: when the address cannot be bound.
    public func run() async throws {
        let server = try await HTTPServer.start(configuration: configuration, responder: responder, logger: logger)
        onStart(server)
        let grace = gracePeriod
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await server.waitUntilClosed()
        } onCancelOrGracefulShutdown: {
            Task { await server.shutdown(gracePeriod: grace) }
        }
        await server.shutdown(gracePeriod: grace)  // joins the shutdown already running, if any
    }
}
