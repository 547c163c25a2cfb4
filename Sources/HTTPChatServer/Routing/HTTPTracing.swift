import HTTPChatCore
import NIOConcurrencyHelpers
public import HTTPTypes
public import Tracing

/// Middleware that runs each request in a server span through swift-distributed-tracing, named and
/// attributed by OpenTelemetry's HTTP semantic conventions.
///
/// - The parent comes from the request's fields through the tracer's own propagation
///   (``HTTPFieldsExtractor``): with swift-otel, W3C `traceparent` and `tracestate`.
/// - The span is named `GET /notes/:id` (the method and the route the router matched) or just the method when
///   no route matched; its attributes are `http.request.method` (`_OTHER` for a method outside RFC 9110's,
///   with `http.request.method_original`), `url.path`, `url.query`, `url.scheme`, `http.route`,
///   `network.protocol.name` and `.version`, `server.address` and `server.port` (from `Host`),
///   `client.address` and `client.port`, `user_agent.original`, `http.response.status_code` and
///   `http.response.body.size`.
/// - A 5xx answer sets the span's status to error with `error.type` the status code; a thrown error is
///   recorded on the span, and unless it is an ``HTTPError`` below 500 (an answer, not a failure) it sets
///   the error status with `error.type` its type's name. A thrown error's status is the one the client is
///   sent (`ErrorResponse`).
/// - The handler runs with the span's context as the task's `ServiceContext`, so its own spans are children.
/// - The span ends when the body has been sent (or given up), so it covers a streamed or file body too.
///
/// Put it outermost (`router.use(HTTPTracing())` before other middleware) so that it sees what the client
/// is sent.
///
/// ```swift
/// InstrumentationSystem.bootstrap(myTracer)   // for example swift-otel's
/// router.use(HTTPTracing())
/// ```
public struct HTTPTracing: HTTPMiddleware {
    private let tracer: any Tracer

    /// Traces through `tracer` (default: the process's bootstrapped one, `InstrumentationSystem.tracer`).
    ///
    /// - Parameter tracer: where spans go.
    public init(tracer: any Tracer = InstrumentationSystem.tracer) {
        self.tracer = tracer
    }

    /// Runs the chain inside a server span.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        var context = ServiceContext.current ?? .topLevel
        tracer.extract(request.headerFields, into: &context, using: HTTPFieldsExtractor())
        let method = request.method.rawValue
        let span = tracer.startSpan(method, context: context, ofKind: .server)
        span.updateAttributes { Self.requestAttributes(of: request, into: &$0) }
        let route = MatchedRoute()
        do {
            var response = try await ServiceContext.$current.withValue(span.context) {
                try await MatchedRoute.$current.withValue(route) { try await next.respond(to: request) }
            }
            Self.named(span, method: method, route: route.pattern)
            let status = response.status.code
            span.attributes["http.response.status_code"] = status
            if status >= 500 {
                span.attributes["error.type"] = String(status)
                span.setStatus(SpanStatus(code: .error))
            }
            response.whenBodyDone(method: request.method) { sent in
                span.attributes["http.response.body.size"] = sent
                span.end()
            }
            return response
        } catch {
            Self.named(span, method: method, route: route.pattern)
            let status = ErrorResponse(error).response.status.code
            span.attributes["http.response.status_code"] = status
            span.recordError(error)
            if !(error is HTTPError) || status >= 500 {
                span.attributes["error.type"] = error is HTTPError ? String(status) : String(reflecting: type(of: error))
                span.setStatus(SpanStatus(code: .error))
            }
            span.end()
            throw error
        }
    }

    private static func named(_ span: any Span, method: String, route: String?) {
        guard let route else { return }
        span.operationName = "\(method) \(route)"
        span.attributes["http.route"] = route
    }

    /// Methods named as they are; others become `_OTHER` (the conventions' rule, so that a client cannot grow
    /// the set of span names).
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]

    static func requestAttributes(of request: Request, into attributes: inout SpanAttributes) {
        let method = request.method.rawValue
        if knownMethods.contains(method) {
            attributes["http.request.method"] = method
        } else {
            attributes["http.request.method"] = "_OTHER"
            attributes["http.request.method_original"] = method
        }
        attributes["url.path"] = String(request.rawPath)
        if let query = request.rawQuery, !query.isEmpty { attributes["url.query"] = String(query) }
        attributes["url.scheme"] = request.scheme
        attributes["network.protocol.name"] = "http"
        attributes["network.protocol.version"] = request.version == .http1_0 ? "1.0" : "1.1"
        if let host = request.headerFields[hostField], let (name, port) = splitHost(host) {
            attributes["server.address"] = name
            if let port { attributes["server.port"] = port }
        }
        if let client = request.remoteAddress {
            if let address = client.ipAddress { attributes["client.address"] = address }
            if let port = client.port { attributes["client.port"] = port }
        }
        if let agent = request.headerFields[.userAgent] { attributes["user_agent.original"] = agent }
    }

    private static let hostField = HTTPField.Name("Host")!

    /// `example.com:8080` -> (`example.com`, 8080); `[::1]:80` -> (`::1`, 80); nil for an empty Host.
    static func splitHost(_ host: String) -> (String, Int?)? {
        guard !host.isEmpty else { return nil }
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let name = String(host[host.index(after: host.startIndex)..<close])
            let rest = host[host.index(after: close)...]
            return (name, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        if let colon = host.lastIndex(of: ":") {
            return (String(host[..<colon]), Int(host[host.index(after: colon)...]))
        }
        return (host, nil)
    }
}

/// Reads propagation fields (W3C `traceparent`, `tracestate`, `baggage`, or whatever a tracer asks for) from
/// a request's header fields, for `Instrument.extract`. Repeated fields are joined with `,`, as RFC 9110
/// §5.3 allows for list fields; a name that is not a valid field name yields nil.
public struct HTTPFieldsExtractor: Extractor {
    /// Creates the extractor.
    public init() {}

    /// The value of the field `key` in `carrier`, or nil.
    public func extract(key: String, from carrier: HTTPFields) -> String? {
        guard let name = HTTPField.Name(key) else { return nil }
        let values = carrier[values: name]
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}

/// The route pattern the router matched, passed up to ``HTTPTracing`` (which runs before routing) through a
/// task-local box.
final class MatchedRoute: Sendable {
    private let box = NIOLockedValueBox<String?>(nil)

    /// The pattern, once the router matched one.
    var pattern: String? {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }

    @TaskLocal static var current: MatchedRoute?
}
