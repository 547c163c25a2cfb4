public import CoreMetrics
import HTTPTypes

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Middleware that records requests through swift-metrics, named in Prometheus conventions:
///
/// - `http_requests_total{method, status}`: a counter per method and status (errors count with the status the
///   client is sent, as `ErrorResponse` maps them);
/// - `http_request_duration_seconds{method}`: a timer (a histogram in Prometheus) from the request's arrival at
///   the middleware to its response head (a streamed body is not included);
/// - `http_requests_in_flight`: a meter, up while the chain runs.
///
/// Methods outside the common ones are recorded as `other`, so a client cannot grow the label set. The
/// server's own connection counts come from ``ServerConfiguration/metricsFactory``.
///
/// ```swift
/// let registry = PrometheusCollectorRegistry()
/// let factory = PrometheusMetricsFactory(registry: registry)
/// router.use(HTTPMetrics(factory: factory))
/// ```
public struct HTTPMetrics: HTTPMiddleware {
    private let factory: any MetricsFactory
    private let inFlight: Meter

    /// Methods recorded by name; others are `other`.
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]

    /// Records into `factory` (default: the process's bootstrapped one, `MetricsSystem.factory`).
    ///
    /// - Parameter factory: where the metrics go.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        self.inFlight = Meter(label: "http_requests_in_flight", factory: factory)
    }

    /// Runs the chain, recording its outcome.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        let method = Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        let started = ContinuousClock.now
        inFlight.increment()
        defer { inFlight.decrement() }
        let status: Int
        do {
            let response = try await next.respond(to: request)
            status = response.status.code
            record(method: method, status: status, since: started)
            return response
        } catch {
            status = ErrorResponse(error).response.status.code
            record(method: method, status: status, since: started)
            throw error
        }
    }

    private func record(method: String, status: Int, since started: ContinuousClock.Instant) {
        Counter(label: "http_requests_total", dimensions: [("method", method), ("status", String(status))], factory: factory)
            .increment()
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        Timer(label: "http_request_duration_seconds", dimensions: [("method", method)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }
}

/// The server's own connection metrics (``ServerConfiguration/metricsFactory``): `http_server_open_connections`
/// (a meter) and `http_server_connections_total` (a counter of accepted connections).
package final class ConnectionMetrics: Sendable {
    let open: Meter
    let accepted: Counter

    init(factory: any MetricsFactory) {
        open = Meter(label: "http_server_open_connections", factory: factory)
        accepted = Counter(label: "http_server_connections_total", factory: factory)
    }

    func opened() {
        accepted.increment()
        open.increment()
    }

    func closed() { open.decrement() }
}
