public import CoreMetrics
public import HTTPChatCore
import NIOCore

/// How an ``HTTPServer`` listens and what it accepts. Every value has a documented default.
public struct ServerConfiguration: Sendable {
    /// The address to bind. Default `127.0.0.1`; use `0.0.0.0` or `::` to serve other machines.
    public var host: String = "127.0.0.1"
    /// The port. `0` picks a free one; read it from ``HTTPServer/port``. Default 8080.
    public var port: Int = 8080
    /// Event loop threads when the server makes its own group. Default: one per core.
    public var threads: Int = System.coreCount
    /// Request limits and timeouts.
    public var limits = HTTPLimits()
    /// The chat layer's buffer sizes and backpressure marks. Its `maxDelimitedLength` is set from
    /// ``/HTTPChatCore/HTTPLimits/maxHeaderBytes``.
    public var chat = ChatConfiguration()
    /// The listen backlog. Default 256.
    public var backlog: Int32 = 256
    /// The most connections open at once. Past it the server stops accepting, and new clients wait in the
    /// listen backlog until a connection closes. Default 16,384; keep it below the process's descriptor limit
    /// (`ulimit -n`) so that files and pipes can still be opened at the cap.
    public var maxConnections: Int = 16_384
    /// HTTPS: the certificate and key (and, for mutual TLS, the client certificate authority). Nil (the
    /// default) serves plain HTTP.
    public var tls: TLSSettings?
    /// Where the server reports its connections (`http_server_open_connections`,
    /// `http_server_connections_total`), through swift-metrics. Nil (the default) reports nothing; requests are
    /// recorded by the ``HTTPMetrics`` middleware.
    public var metricsFactory: (any MetricsFactory)?

    /// Proxies whose word on the client is taken (CIDR networks). Their PROXY protocol headers (with
    /// ``proxyProtocol``), and their `Forwarded` (RFC 7239) and `X-Forwarded-For` / `-Proto` / `-Host`
    /// fields, set ``Request/remoteAddress``, ``Request/scheme`` and ``Request/host``: walking the hops from
    /// the right, the first address that is not a trusted proxy is the client. From any other peer the
    /// fields are ignored (they stay in ``Request/headerFields`` as sent). Default none: nobody is trusted.
    public var trustedProxies: [CIDR] = []
    /// Whether every connection must start with a PROXY protocol header (HAProxy's spec, v1 or v2) from a
    /// peer in ``trustedProxies``: connections from any other peer are closed at once, and a header that is
    /// missing, malformed or late closes the connection without an answer. The client the header names
    /// becomes ``Request/remoteAddress``. Needs ``trustedProxies``, and cannot be combined with ``tls`` (the
    /// header is read above the TLS layer, but comes before the handshake: terminate TLS at the proxy).
    /// Default false.
    public var proxyProtocol = false
    /// How long a connection may take to send its PROXY header (with ``proxyProtocol``). Default 5 s.
    public var proxyHeaderTimeout: Duration = .seconds(5)
    /// `SO_REUSEPORT`: other processes (of the same user) may listen on the same address and port, and the
    /// kernel spreads new connections across them, so a new process can start before the old one drains.
    /// Default false.
    public var reusePort = false
    /// Listening sockets passed in already bound (systemd socket activation: descriptors 3 and up, see
    /// ``HTTPServer/socketActivationDescriptors()``). When not empty, the server serves on these and
    /// ``host`` and ``port`` are not used. Default none.
    public var listeningDescriptors: [Int32] = []
    /// Told when the server starts shutting down, before it stops accepting: a ``HealthCheck`` reading it
    /// answers 503 from then on. Nil (the default): nobody is told.
    public var readiness: Readiness?
    /// How long the server keeps accepting and serving after ``readiness`` went to draining, before it
    /// stops accepting and winds connections down: time for a load balancer's health checks to see the 503
    /// and stop sending (Kubernetes removes an endpoint a few seconds after its pod is told to stop).
    /// Default zero.
    public var drainDelay: Duration = .zero
    /// Fixed fields set on every response head the server writes: the responder's answers and the server's
    /// own (400, 408, 413, 431 and 501 for requests that could not be read, `OPTIONS *`), replacing the
    /// response's fields of the same names (see ``ResponseHeaders``). Nil (the default) sets none.
    public var responseHeaders: ResponseHeaders?

    /// The defaults.
    public init() {}

    /// The defaults with another host and port.
    ///
    /// - Parameters:
    ///   - host: the address to bind.
    ///   - port: the port; `0` picks a free one.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
