public import NIOCore

/// What a PROXY protocol header (HAProxy's "The PROXY protocol", versions 1 and 2) says about a connection
/// a proxy relays: the original client's address and the address it connected to.
public struct ProxyHeader: Sendable, Hashable {
    /// The header's version: the text line (1) or the binary block (2).
    public enum Version: Sendable, Hashable {
        /// `PROXY TCP4 ...\r\n`.
        case v1
        /// The 12-byte signature, then a binary block.
        case v2
    }

    /// The header's version.
    public var version: Version
    /// The original client's address. Nil when the header names none the server can use: a v2 `LOCAL`
    /// command (the proxy's own connection, a health check), v1 `UNKNOWN`, a v2 family other than IPv4 and
    /// IPv6 (`UNSPEC`, `UNIX`). Then the connection's own peer address stands (the spec's rule).
    public var source: SocketAddress?
    /// The address the client connected to (the proxy's front), when ``source`` is set.
    public var destination: SocketAddress?

    /// A header's facts.
    ///
    /// - Parameters:
    ///   - version: v1 or v2.
    ///   - source: the client's address, or nil.
    ///   - destination: the address it connected to, or nil.
    public init(version: Version, source: SocketAddress?, destination: SocketAddress?) {
        self.version = version
        self.source = source
        self.destination = destination
    }
}

/// A PROXY header that cannot be read: the connection must be closed (the spec: a receiver must not guess).
public struct ProxyHeaderError: Error, Hashable, CustomStringConvertible {
    /// What was wrong.
    public let reason: String
    /// The reason.
    public var description: String { "PROXY header: \(reason)" }

    init(_ reason: String) { self.reason = reason }
}
