public import NIOSSL

/// What TLS said about a connection, for its requests (``Request/tls``).
public struct TLSConnectionInfo: Sendable {
    /// The protocol version negotiated (`.tlsv12` or `.tlsv13`).
    public let version: TLSVersion?
    /// The protocol ALPN chose (`http/1.1`), if the client offered ALPN.
    public let applicationProtocol: String?
    /// The client's certificate, verified against ``TLSSettings/clientCertificateAuthority``; nil when the
    /// client presented none (possible only when ``TLSSettings/requireClientCertificate`` is false).
    public let peerCertificate: NIOSSLCertificate?

    /// Describes a connection (tests building a ``Request`` by hand).
    ///
    /// - Parameters:
    ///   - version: the TLS version.
    ///   - applicationProtocol: the ALPN protocol.
    ///   - peerCertificate: the client's verified certificate.
    public init(version: TLSVersion?, applicationProtocol: String?, peerCertificate: NIOSSLCertificate?) {
        self.version = version
        self.applicationProtocol = applicationProtocol
        self.peerCertificate = peerCertificate
    }
}
