import HTTPChatCore
import HTTPTypes

/// Middleware that sends `Strict-Transport-Security` (RFC 6797) on every response to a request that came
/// over TLS, errors included, so browsers use HTTPS for the host from then on. Never on plain HTTP, where
/// the field must not be sent (RFC 6797 §7.2).
///
/// ```swift
/// let site = files.wrapped(in: [StrictTransportSecurity(maxAge: 31_536_000)])
/// ```
public struct StrictTransportSecurity: HTTPMiddleware {
    /// The field's value, `max-age=N` with any directives.
    public let value: String

    /// Creates the middleware.
    ///
    /// - Parameters:
    ///   - maxAge: seconds browsers remember to use HTTPS (0 tells them to forget).
    ///   - includeSubdomains: whether the rule covers subdomains too.
    public init(maxAge: Int, includeSubdomains: Bool = false) {
        precondition(maxAge >= 0, "max-age cannot be negative")
        value = "max-age=\(maxAge)" + (includeSubdomains ? "; includeSubDomains" : "")
    }

    /// The response from `next` (or its error's), with the field when the request came over TLS.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        guard request.tls != nil else { return try await next.respond(to: request) }
        var response = try await ErrorResponse.answer(request, next)
        response.headerFields[.strictTransportSecurity] = value
        return response
    }
}

/// A responder for a plain HTTP port beside an HTTPS one: every request is answered `308 Permanent
/// Redirect` to the same path and query on `https://`, at the host the client asked for (``Request/host``:
/// a trusted proxy's forwarded host, an absolute-form target's authority, or its `Host`) and the HTTPS port. 308 keeps the method and body (RFC 9110 §15.4.9).
///
/// ```swift
/// let redirect = try await HTTPServer.start(configuration: .init(host: "0.0.0.0", port: 80),
///                                           responder: HTTPSRedirect(httpsPort: 443))
/// ```
public struct HTTPSRedirect: HTTPResponder {
    /// The port HTTPS listens on (443 is left out of the URL).
    public let httpsPort: Int
    /// The host used when a request names none (HTTP/1.0 without `Host`).
    public let defaultHost: String

    /// Creates the responder.
    ///
    /// - Parameters:
    ///   - httpsPort: the HTTPS port.
    ///   - defaultHost: the host for requests that name none (default `localhost`).
    public init(httpsPort: Int, defaultHost: String = "localhost") {
        self.httpsPort = httpsPort
        self.defaultHost = defaultHost
    }

    /// The redirect.
    public func respond(to request: Request) async throws -> Response {
        let authority = request.host ?? ""
        let host = Self.host(of: authority) ?? Self.bracketed(defaultHost)
        let port = httpsPort == 443 ? "" : ":\(httpsPort)"
        var rest = String(request.rawPath)
        if rest == "*" { rest = "/" }
        if let query = request.rawQuery { rest += "?" + query }
        let location = "https://\(host)\(port)\(rest)"
        var response = Response.text("Use HTTPS: \(location)\n", status: .permanentRedirect)
        response.headerFields[.location] = location
        return response
    }

    /// The host part of `authority` (`[::1]` of `[::1]:8080`), when it is a plain host name or IP literal:
    /// nothing that could change the URL's structure gets through. Decided on bytes: a bracketed literal must
    /// be an IPv6 address without a zone (``IPLiteral``; `Character.isHexDigit` also took fullwidth digits).
    static func host(of authority: String) -> String? {
        var host = Array(authority.utf8)[...]
        if host.first == UInt8(ascii: "[") {
            guard let close = host.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let inside = String(decoding: host[(host.startIndex + 1)..<close], as: UTF8.self)
            guard case .v6 = IPLiteral.address(inside, port: 0) else { return nil }
            return "[" + inside + "]"
        }
        if let colon = host.firstIndex(of: UInt8(ascii: ":")) { host = host[..<colon] }
        guard !host.isEmpty,
            host.allSatisfy({ b in
                (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                    || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
            })
        else { return nil }
        return String(decoding: host, as: UTF8.self)
    }

    private static func bracketed(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}
