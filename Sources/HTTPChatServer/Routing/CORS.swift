public import HTTPTypes

/// Middleware for cross-origin requests (the Fetch standard's CORS protocol): answers preflight `OPTIONS`
/// requests itself and adds `Access-Control-Allow-Origin` to responses for allowed origins. Requests without
/// `Origin`, and from origins not allowed, pass through untouched.
///
/// ```swift
/// router.use(CORS(allowedOrigins: .list(["https://app.example"]), allowCredentials: true))
/// ```
public struct CORS: HTTPMiddleware {
    /// Which origins may read responses.
    public enum Origins: Sendable, Hashable {
        /// Any origin (`*`; with credentials, the request's origin is echoed instead).
        case any
        /// Exactly these origins, for example `https://app.example`.
        case list(Set<String>)
    }

    /// The allowed origins.
    public var allowedOrigins: Origins
    /// Methods allowed in preflight answers.
    public var allowedMethods: [HTTPRequest.Method]
    /// Request fields allowed in preflight answers; nil echoes what the preflight asks for.
    public var allowedHeaders: [String]?
    /// Response fields scripts may read.
    public var exposedHeaders: [String]
    /// Whether credentials (cookies, authorization) may be sent.
    public var allowCredentials: Bool
    /// How long a preflight answer may be cached, in seconds.
    public var maxAgeSeconds: Int?

    /// Creates the middleware.
    ///
    /// - Parameters:
    ///   - allowedOrigins: the origins (default any).
    ///   - allowedMethods: the methods (default GET, HEAD, POST, PUT, PATCH, DELETE).
    ///   - allowedHeaders: request fields, or nil to echo the preflight's.
    ///   - exposedHeaders: response fields scripts may read.
    ///   - allowCredentials: whether credentials are allowed.
    ///   - maxAgeSeconds: preflight cache time (default 600).
    public init(
        allowedOrigins: Origins = .any,
        allowedMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete],
        allowedHeaders: [String]? = nil,
        exposedHeaders: [String] = [],
        allowCredentials: Bool = false,
        maxAgeSeconds: Int? = 600
    ) {
        self.allowedOrigins = allowedOrigins
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders
        self.exposedHeaders = exposedHeaders
        self.allowCredentials = allowCredentials
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// Answers preflights; decorates other responses for allowed origins, error responses included (an
    /// ``HTTPError`` is answered here, as `ErrorResponse` maps it, so the page can read it).
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        guard let origin = request.headerFields[.origin], let allowOrigin = allowed(origin) else {
            return try await next.respond(to: request)
        }
        if request.method == .options, request.headerFields[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            decorate(&response.headerFields, allowOrigin: allowOrigin)
            // Under a router, the methods routed at this path (of those allowed); else the configured list.
            let methods = request.routedMethods.map { routed in allowedMethods.map(\.rawValue).filter(routed.contains) }
                ?? allowedMethods.map(\.rawValue)
            response.headerFields[.accessControlAllowMethods] = methods.joined(separator: ", ")
            if let allowedHeaders {
                response.headerFields[.accessControlAllowHeaders] = allowedHeaders.joined(separator: ", ")
            } else if let asked = request.headerFields[.accessControlRequestHeaders] {
                response.headerFields[.accessControlAllowHeaders] = asked
            }
            if let maxAgeSeconds { response.headerFields[.accessControlMaxAge] = String(maxAgeSeconds) }
            return response
        }
        // Errors the connection must see (to close after them, or to log them) go on undecorated.
        var response = try await ErrorResponse.answer(request, next)
        decorate(&response.headerFields, allowOrigin: allowOrigin)
        if !exposedHeaders.isEmpty {
            response.headerFields[.accessControlExposeHeaders] = exposedHeaders.joined(separator: ", ")
        }
        return response
    }

    private func allowed(_ origin: String) -> String? {
        switch allowedOrigins {
        case .any: return allowCredentials ? origin : "*"
        case .list(let origins): return origins.contains(origin) ? origin : nil
        }
    }

    private func decorate(_ fields: inout HTTPFields, allowOrigin: String) {
        fields[.accessControlAllowOrigin] = allowOrigin
        if allowOrigin != "*" { fields.append(HTTPField(name: .vary, value: "Origin")) }
        if allowCredentials { fields[.accessControlAllowCredentials] = "true" }
    }
}
