public import HTTPChatCore
public import HTTPTypes
public import NIOCore

/// A request as a responder sees it: the head, the body (collected or streamed), and where it came from.
///
/// Build one directly to exercise a responder in-process:
/// ```swift
/// let response = try await router.respond(to: Request(method: .get, target: "/notes/1"))
/// ```
public struct Request: Sendable {
    /// The method.
    public var method: HTTPRequest.Method
    /// The request target exactly as sent: `/a%20b?x=1`, `http://host/path`, `*`, or `host:port`.
    public var target: String
    /// The version the client spoke.
    public var version: HTTPVersion
    /// The header fields.
    public var headerFields: HTTPFields
    /// The body. Read it once: ``RequestBody/collect(upTo:)`` or `for try await chunk in request.body`.
    public var body: RequestBody
    /// The client's address, when served from a socket: the socket's peer, or, behind a trusted proxy, the
    /// client its PROXY header or forwarding fields name (``ServerConfiguration/trustedProxies``).
    public var remoteAddress: SocketAddress?
    /// The socket's peer, when served from a socket: the client, or the proxy that relayed the request.
    public var peerAddress: SocketAddress?
    /// The scheme a trusted proxy says the client used (`Forwarded: proto=`, `X-Forwarded-Proto`), set by
    /// the server; nil when no trusted proxy said so.
    public var forwardedScheme: String?
    /// The host a trusted proxy says the client asked for (`Forwarded: host=`, `X-Forwarded-Host`), set by
    /// the server; nil when no trusted proxy said so.
    public var forwardedHost: String?
    /// The server's address the request arrived on (its port is the bound one, also after `--port 0`), when
    /// served from a socket.
    public var localAddress: SocketAddress?
    /// TLS facts (version, ALPN, the client's verified certificate) when the request came over HTTPS; nil
    /// over plain HTTP.
    public var tls: TLSConnectionInfo?
    /// The scheme the client used: what a trusted proxy said (``forwardedScheme``), else `"https"` when the
    /// request came over TLS, else `"http"`.
    public var scheme: String { forwardedScheme ?? (tls == nil ? "http" : "https") }
    /// The host (with any port) the request is for: what a trusted proxy said (``forwardedHost``), else an
    /// absolute-form target's authority (RFC 9112 §3.2.2), else the `Host` field; nil when none names one.
    public var host: String? {
        if let forwardedHost { return forwardedHost }
        if let authority = absoluteFormAuthority { return String(authority) }
        return headerFields[Self.hostField]
    }

    /// `Host` (swift-http-types keeps `.host` for HTTP/2's `:authority`).
    static let hostField = HTTPField.Name("Host")!
    /// The methods routed at this request's path, set by the router for an `OPTIONS` it has no route for
    /// (a CORS preflight): ``CORS`` answers with these. Nil otherwise.
    public var routedMethods: [String]?
    /// Values captured by the router (`:name` segments, `*`, `**`).
    public var parameters: Parameters = Parameters()
    /// Trailer fields of a chunked body; present once the body has been read to its end.
    public var trailerFields: HTTPFields? { body.trailers }

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - method: the method.
    ///   - target: the request target, for example `/search?q=swift`.
    ///   - version: the version (default HTTP/1.1).
    ///   - headerFields: the fields.
    ///   - body: the body (default empty).
    ///   - remoteAddress: the peer, if any.
    ///   - localAddress: the server's address it arrived on, if any.
    public init(
        method: HTTPRequest.Method,
        target: String,
        version: HTTPVersion = .http1_1,
        headerFields: HTTPFields = [:],
        body: RequestBody = .empty,
        remoteAddress: SocketAddress? = nil,
        localAddress: SocketAddress? = nil
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headerFields = headerFields
        self.body = body
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
    }

    /// The path part of the target, still percent-encoded: `/a%20b` for `/a%20b?x=1`, `/p` for
    /// `http://h/p?q`, `/` for `http://h?q`, `*` for the asterisk form.
    public var rawPath: Substring {
        var rest = Substring(target)
        if rest.first != "/", let schemeEnd = Self.endOfScheme(rest) {
            rest = rest[schemeEnd...]
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) else { return "/" }
            rest = rest[slash...]
            if rest.first != "/" { return "/" }
        }
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        return rest
    }

    /// The authority of an absolute-form target (`host:8080` for `http://host:8080/p`), which RFC 9112 §3.2.2
    /// says the server uses instead of any `Host` field; nil for other forms.
    public var absoluteFormAuthority: Substring? {
        let s = Substring(target)
        guard s.first != "/", let start = Self.endOfScheme(s) else { return nil }
        let rest = s[start...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<end]
        // userinfo is not part of the host (RFC 3986 §3.2), though RFC 9110 §4.2.4 forbids sending it.
        if let at = authority.lastIndex(of: "@") { return authority[authority.index(after: at)...] }
        return authority
    }

    /// The index after `scheme://` in an absolute-form target.
    static func endOfScheme(_ s: Substring) -> Substring.Index? {
        guard let colon = s.firstIndex(of: ":") else { return nil }
        let afterColon = s[s.index(after: colon)...]
        guard afterColon.hasPrefix("//") else { return nil }
        return s.index(colon, offsetBy: 3)
    }

    /// The query, still encoded, without `?`; nil when the target has none.
    public var rawQuery: Substring? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        let rest = target[target.index(after: q)...]
        if let hash = rest.firstIndex(of: "#") { return rest[..<hash] }
        return rest
    }

    /// The percent-decoded path (RFC 3986 §2.1); nil when its escapes are malformed or decode to invalid
    /// UTF-8 or to NUL.
    public var path: String? { PercentEncoding.decode(rawPath) }

    /// The query's `name=value` pairs, decoded as `application/x-www-form-urlencoded` (`+` is a space),
    /// in order; malformed pairs are skipped.
    public var queryItems: [(name: String, value: String)] {
        guard let rawQuery else { return [] }
        return FormURLEncoded.parse(rawQuery)
    }

    /// The first query value named `name`, decoded. Names are compared on bytes: Swift's `==` on Strings is
    /// canonical equivalence, under which `%E2%84%AA` (U+212A KELVIN SIGN) would be the parameter `K`.
    ///
    /// - Parameter name: the decoded name.
    /// - Returns: the decoded value, or nil.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }
}

/// Values the router captured from the path.
public struct Parameters: Sendable, Hashable {
    var values: [(String, String)] = []

    /// No parameters.
    public init() {}

    /// The value captured for `:name`, decoded; `*` and `**` are stored under `"*"` and `"**"`.
    public subscript(_ name: String) -> String? {
        values.last { $0.0 == name }?.1
    }

    /// The value for `name`, converted (`Int`, `UUID`, ...).
    ///
    /// - Parameters:
    ///   - name: the parameter name.
    ///   - type: the type to convert to.
    /// - Returns: the converted value.
    /// - Throws: ``HTTPError`` 400 when the parameter is missing or does not convert.
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let raw = self[name], let value = T(raw) else {
            throw HTTPError(.badRequest, "invalid path parameter \(name)")
        }
        return value
    }

    mutating func append(_ name: String, _ value: String) { values.append((name, value)) }

    /// Every name, in capture order.
    public var names: [String] { values.map(\.0) }

    /// Compares names and values in order.
    public static func == (a: Parameters, b: Parameters) -> Bool {
        a.values.count == b.values.count && zip(a.values, b.values).allSatisfy { $0 == $1 }
    }

    /// Hashes names and values in order.
    public func hash(into hasher: inout Hasher) {
        for (n, v) in values {
            hasher.combine(n)
            hasher.combine(v)
        }
    }
}
