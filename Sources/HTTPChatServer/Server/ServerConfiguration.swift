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
