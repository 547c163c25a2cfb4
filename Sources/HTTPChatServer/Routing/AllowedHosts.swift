import HTTPChatCore
import HTTPTypes
public import NIOCore

/// Middleware that answers `403 Forbidden` to a request for a host the server does not answer to: the
/// defence against DNS rebinding for a server on loopback (`httpserve` turns it on when bound to
/// `127.0.0.1`, `::1` or `localhost`; Vite and webpack-dev-server do the same).
///
/// A web page on `rebind.attacker.example` can have its name resolve to `127.0.0.1` after it loaded; the
/// browser then lets it read whatever the loopback server answers, since to the browser it is the page's
/// own origin. Its requests still carry `Host: rebind.attacker.example`, and that is what is refused here.
///
/// Allowed: `localhost` and any `*.localhost` name (RFC 6761 §6.3 keeps them on loopback), IPv4 literals in
/// `127.0.0.0/8`, `[::1]`, each with any port or none, and the names given (a name starting with `.`
/// allows that name and every name under it, as Vite's `allowedHosts` does). A request without a `Host`
/// (HTTP/1.0) is let through: browsers always send one. The host read is the one the client sent (an
/// absolute-form target's authority, else `Host`), never what a proxy's `X-Forwarded-Host` says, which a
/// page can set itself.
///
/// Hosts are compared on bytes, ASCII letters case-folded, one trailing dot ignored (`localhost.`); a
/// host with a byte outside ASCII, a zone, a bad port or anything that is neither a name nor an IP literal
/// is refused.
///
/// Why 403 and not 421 (Misdirected Request, RFC 9110 §15.5.20): 421 asks a client to retry on another
/// connection, which a browser may do and which would get the same answer; 403 says plainly that this
/// server will not serve the request, as Vite answers.
///
/// ```swift
/// let site = files.wrapped(in: [try AllowedHosts(["dev.example.test"])])
/// ```
public struct AllowedHosts: HTTPMiddleware {
    /// The names allowed beyond the loopback ones, lowercased, without a trailing dot.
    public let names: [String]

    /// Loopback names and addresses, and `names`.
    ///
    /// - Parameter names: host names to allow too (without a port); `.example.test` allows
    ///   `example.test` and every name under it.
    /// - Throws: ``AllowedHostsError`` for a name that is empty or holds bytes other than ASCII letters,
    ///   digits, `-` and `.`.
    public init(_ names: [String] = []) throws {
        self.names = try names.map { name in
            var bytes = Array(name.utf8)[...]
            if bytes.last == Self.dot { bytes = bytes.dropLast() }
            guard !bytes.filter({ $0 != Self.dot }).isEmpty, bytes.allSatisfy(Self.isNameByte) else {
                throw AllowedHostsError("'\(name)' is not a host name (ASCII letters, digits, '-' and '.' only, no port)")
            }
            return String(decoding: bytes.map(HTTPGrammar.lower), as: UTF8.self)
        }
    }

    /// The answer of `next`, or 403 when the request's host is not allowed.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        let host = request.absoluteFormAuthority.map(String.init) ?? request.headerFields[Request.hostField]
        guard let host, !allows(host) else { return try await next.respond(to: request) }
        return .text("Forbidden: this server does not answer to that host name\n", status: .forbidden)
    }

    /// Whether `authority` (a `Host` value: host and optional port) names a host this server answers to.
    ///
    /// - Parameter authority: the value as sent.
    /// - Returns: true for a loopback name or address, or a configured name; false for anything else.
    public func allows(_ authority: String) -> Bool {
        var host = Array(authority.utf8)[...]
        guard host.allSatisfy({ $0 < 0x80 }) else { return false }
        if host.first == UInt8(ascii: "[") {
            guard let close = host.firstIndex(of: UInt8(ascii: "]")), Self.isPort(host[(close + 1)...]) else { return false }
            let inside = String(decoding: host[(host.startIndex + 1)..<close], as: UTF8.self)
            guard let address = IPLiteral.address(inside, port: 0), case .v6 = address else { return false }
            return CIDR.any(Self.loopback, contain: address)
        }
        if let colon = host.firstIndex(of: UInt8(ascii: ":")) {
            guard Self.isPort(host[colon...]) else { return false }
            host = host[..<colon]
        }
        if host.last == Self.dot { host = host.dropLast() }
        guard !host.isEmpty, host.allSatisfy(Self.isNameByte) else { return false }
        if let address = IPLiteral.address(String(decoding: host, as: UTF8.self), port: 0) {
            return CIDR.any(Self.loopback, contain: address)
        }
        let name = Array(host.map(HTTPGrammar.lower))
        if name == Self.localhost || (name.count > Self.dotLocalhost.count && name.suffix(Self.dotLocalhost.count).elementsEqual(Self.dotLocalhost)) {
            return true
        }
        return names.contains { allowed in
            let allowed = Array(allowed.utf8)
            if allowed.first == Self.dot {
                let bare = allowed.dropFirst()
                return name.elementsEqual(bare) || (name.count > allowed.count && name.suffix(allowed.count).elementsEqual(allowed))
            }
            return name == allowed
        }
    }

    /// Whether a server bound to `bindAddress` listens on loopback only: `localhost`, an IPv4 address in
    /// `127.0.0.0/8`, `::1` (bracketed or not). `0.0.0.0`, `::` and other addresses are not.
    ///
    /// - Parameter bindAddress: the address given to bind (``ServerConfiguration/host``).
    /// - Returns: true when only this machine can connect.
    public static func isLoopback(bindAddress: String) -> Bool {
        var text = Array(bindAddress.utf8)[...]
        if text.first == UInt8(ascii: "["), text.last == UInt8(ascii: "]") { text = text.dropFirst().dropLast() }
        if text.last == dot { text = text.dropLast() }
        if Array(text.map(HTTPGrammar.lower)) == localhost { return true }
        guard let address = IPLiteral.address(String(decoding: text, as: UTF8.self), port: 0) else { return false }
        return CIDR.any(loopback, contain: address)
    }

    /// Whether a socket address is a loopback one (127.0.0.0/8, `::1`, IPv4-mapped 127.0.0.0/8).
    ///
    /// - Parameter address: a bound or peer address.
    /// - Returns: true for loopback.
    public static func isLoopback(_ address: SocketAddress) -> Bool {
        CIDR.any(loopback, contain: address)
    }

    // MARK: - Bytes

    private static let loopback = [try! CIDR("127.0.0.0/8"), try! CIDR("::1")]
    private static let localhost = Array("localhost".utf8)
    private static let dotLocalhost = Array(".localhost".utf8)
    private static let dot = UInt8(ascii: ".")

    /// `:` then digits, or nothing (RFC 3986 §3.2.3: `port = *DIGIT`), at most 5 digits.
    private static func isPort(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first else { return true }
        let digits = bytes.dropFirst()
        return first == UInt8(ascii: ":") && digits.count <= 5 && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == dot
    }

}

/// An allowed host name that cannot be one.
public struct AllowedHostsError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the name.
    public let description: String
    init(_ description: String) { self.description = description }
}
