import HTTPChatCore
import HTTPTypes

/// Middleware that refuses cross-origin state-changing requests from browsers: the defence against
/// cross-site request forgery (a page elsewhere posting a form to this server, with the cookies or the
/// cached Basic credentials the browser holds for it). Modelled on Go 1.25's `net/http.CrossOriginProtection`.
///
/// The decision, in order (``check(_:)``):
///
/// 1. `GET`, `HEAD` and `OPTIONS` always pass: they must not change state.
/// 2. `Sec-Fetch-Site` (sent by every browser since 2023): `same-origin` or `none` (the user typed the URL
///    or used a bookmark) passes; `same-site`, `cross-site` or any other value is refused, unless `Origin`
///    is a trusted origin.
/// 3. Without `Sec-Fetch-Site`, `Origin` (older browsers): passes when its host and port are the request's
///    own (``Request/host``: what a trusted proxy said, else an absolute-form target's authority, else
///    `Host`); refused otherwise, unless trusted. `Origin: null` (sandboxed frames, some redirects) and an
///    `Origin` that is not `scheme://host[:port]` are cross-origin.
/// 4. Neither field: passes (curl, scripts and other non-browser clients send neither; a browser always
///    sends one of them with a state-changing request).
///
/// Hosts are compared on bytes with ASCII letters lower-cased, and a missing port is the scheme's default
/// (`https://a.example:443` is `https://a.example`). As in Go, the scheme is not compared with the
/// request's (a `Host` carries none): an `http://` page posting to the same host over HTTPS is let
/// through by rule 3 only in a browser too old for `Sec-Fetch-Site`; HSTS closes that gap. A `Host`
/// without a port matches an `Origin` on its scheme's default port; with one, the ports must be equal.
/// A request with two `Origin` or two `Sec-Fetch-Site` fields is refused.
///
/// A refusal is `403 Forbidden` with a one-line reason; `next` is not called, so nothing is stored.
///
/// ```swift
/// let site = files.wrapped(in: [try CrossOriginProtection(trustedOrigins: ["https://app.example"])])
/// ```
public struct CrossOriginProtection: HTTPMiddleware {
    /// What ``check(_:)`` decided.
    public enum Decision: Sendable, Equatable {
        /// The request may go on.
        case allowed
        /// The request is refused, with the reason sent in the 403 answer.
        case refused(String)
    }

    /// The trusted origins, normalized (`scheme://host[:port]`, lower-cased, the default port dropped).
    public let trustedOrigins: Set<String>

    /// `Sec-Fetch-Site` (RFC 8941 token; Fetch Metadata Request Headers).
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// A middleware trusting `trustedOrigins` besides the request's own origin.
    ///
    /// - Parameter trustedOrigins: origins whose state-changing requests pass, each exactly
    ///   `scheme://host[:port]` (no path, no user, no trailing `/`); compared after normalizing as for
    ///   requests.
    /// - Throws: ``CrossOriginProtectionError`` for a value that is not such an origin.
    public init(trustedOrigins: [String] = []) throws(CrossOriginProtectionError) {
        var trusted: Set<String> = []
        for origin in trustedOrigins {
            guard let parsed = Origin(origin) else {
                throw CrossOriginProtectionError("'\(origin)' is not an origin: it must be scheme://host[:port], e.g. https://app.example")
            }
            trusted.insert(parsed.serialized)
        }
        self.trustedOrigins = trusted
    }

    /// The answer of `next`, or 403 when ``check(_:)`` refuses the request.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        switch check(request) {
        case .allowed: return try await next.respond(to: request)
        case .refused(let reason): return .text("Forbidden: \(reason)\n", status: .forbidden)
        }
    }

    /// Whether `request` may go on (see the type's documentation for the rules).
    ///
    /// - Parameter request: the request.
    /// - Returns: allowed, or refused with a reason.
    public func check(_ request: Request) -> Decision {
        switch request.method {
        case .get, .head, .options: return .allowed
        default: break
        }
        let fields = request.headerFields
        let origins = fields[values: .origin]
        let sites = fields[values: Self.secFetchSite]
        guard origins.count <= 1, sites.count <= 1 else {
            return .refused("cross-origin request refused (repeated Origin or Sec-Fetch-Site)")
        }
        let origin = origins.first.flatMap { $0.isEmpty ? nil : $0 }
        if let site = sites.first {
            switch site {
            case "same-origin", "none": return .allowed
            default: return isTrusted(origin) ? .allowed : .refused("cross-origin request refused (Sec-Fetch-Site)")
            }
        }
        guard let origin else { return .allowed }
        if let parsed = Origin(origin), let host = request.host, parsed.isSameHost(asHostField: host) { return .allowed }
        return isTrusted(origin) ? .allowed : .refused("cross-origin request refused (Origin does not match Host)")
    }

    private func isTrusted(_ origin: String?) -> Bool {
        guard let origin, let parsed = Origin(origin) else { return false }
        return trustedOrigins.contains(parsed.serialized)
    }
}

/// A value given as a trusted origin that is not `scheme://host[:port]`.
public struct CrossOriginProtectionError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public let description: String

    init(_ description: String) { self.description = description }
}

// MARK: - Origins on bytes

/// A serialized origin (`scheme://host[:port]`, RFC 6454 §6.1), parsed on bytes: scheme and host
/// lower-cased (ASCII only: a browser sends an internationalized host in its `xn--` form), the port nil
/// when absent or the scheme's default.
struct Origin: Equatable {
    let scheme: String
    let host: String
    let port: Int?

    /// Parses `value`; nil for `null`, anything with a byte outside printable ASCII, a user, a path, a query,
    /// an empty host or a bad port.
    init?(_ value: String) {
        let bytes = Array(value.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            bytes[colon...].starts(with: Array("://".utf8))
        else { return nil }
        let scheme = bytes[..<colon]
        guard Self.isAlpha(scheme.first!), scheme.allSatisfy({ Self.isAlpha($0) || HTTPGrammar.isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else { return nil }
        guard let (host, port) = Self.hostAndPort(bytes[(colon + 3)...]) else { return nil }
        self.scheme = String(decoding: scheme.map(HTTPGrammar.lower), as: UTF8.self)
        self.host = host
        let effective = port ?? Self.defaultPort(self.scheme)
        self.port = effective == Self.defaultPort(self.scheme) ? nil : effective
    }

    /// `scheme://host[:port]`, the port only when not the default.
    var serialized: String { scheme + "://" + host + (port.map { ":\($0)" } ?? "") }

    /// Whether `field` (a `Host` value: host and optional port) names this origin's host and port: the same
    /// host bytes (ASCII case folded), and the same port, a missing one being this origin's scheme's default.
    func isSameHost(asHostField field: String) -> Bool {
        guard let (host, port) = Self.hostAndPort(Array(field.utf8)[...]) else { return false }
        let mine = self.port ?? Self.defaultPort(scheme)
        return host == self.host && (port ?? Self.defaultPort(scheme)) == mine
    }

    /// `host[:port]` on bytes: a bracketed IPv6 literal or a name of letters, digits, `-`, `.`, `_` and `~`;
    /// the port 0-65535. Nil for anything else (a user, a path, a byte outside that set, an empty host).
    static func hostAndPort(_ bytes: ArraySlice<UInt8>) -> (host: String, port: Int?)? {
        var host: ArraySlice<UInt8>
        var rest: ArraySlice<UInt8>
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = bytes[bytes.startIndex...close]
            rest = bytes[(close + 1)...]
            let inside = host.dropFirst().dropLast()
            guard !inside.isEmpty, inside.allSatisfy({ HTTPGrammar.isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return nil }
        } else {
            let colon = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            host = bytes[..<colon]
            rest = bytes[colon...]
            guard !host.isEmpty, host.allSatisfy({ isAlpha($0) || HTTPGrammar.isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~") })
            else { return nil }
        }
        var port: Int?
        if !rest.isEmpty {
            guard rest.first == UInt8(ascii: ":") else { return nil }
            let digits = rest.dropFirst()
            guard (1...5).contains(digits.count), digits.allSatisfy(HTTPGrammar.isDigit) else { return nil }
            let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 65535 else { return nil }
            port = value
        }
        return (String(decoding: host.map(HTTPGrammar.lower), as: UTF8.self), port)
    }

    /// The default port of `scheme`, or nil when it has none known.
    static func defaultPort(_ scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": return 80
        case "https", "wss": return 443
        default: return nil
        }
    }

    static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
}
