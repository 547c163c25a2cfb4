import HTTPTypes
import NIOConcurrencyHelpers

/// Whether a server is serving or draining: the one fact a load balancer's health check asks. The server
/// it is given to (``ServerConfiguration/readiness``) moves it to draining when its shutdown begins;
/// ``HealthCheck`` answers from it.
public final class Readiness: Sendable {
    private let draining = NIOLockedValueBox(false)

    /// Serving, until ``drain()``.
    public init() {}

    /// Whether the server still takes new work (no shutdown has begun).
    public var isServing: Bool { !draining.withLockedValue { $0 } }

    /// Marks the server as draining, for good. The server calls it when its shutdown begins; call it
    /// yourself to take a process out of rotation ahead of time.
    public func drain() { draining.withLockedValue { $0 = true } }
}

/// A health endpoint for load balancers and Kubernetes probes: `GET` or `HEAD` of ``path`` answers
/// `200 OK` while ``readiness`` is serving and `503 Service Unavailable` once the
/// server's shutdown has begun, so a balancer stops sending before the process exits. Every other request
/// goes to the responder it wraps. The answer is made on the event loop, with `Cache-Control: no-store`.
///
/// ```swift
/// let readiness = Readiness()
/// var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
/// configuration.readiness = readiness
/// configuration.drainDelay = .seconds(5)
/// let site = HealthCheck(path: "/healthz", readiness: readiness, next: try router.build())
/// ```
public struct HealthCheck: ImmediateHTTPResponder {
    /// The path answered, e.g. `/healthz`.
    public let path: String
    /// What the answer is read from.
    public let readiness: Readiness
    /// The responder for every other request.
    public let next: any HTTPResponder

    /// Creates the endpoint.
    ///
    /// - Parameters:
    ///   - path: the path to answer (compared with the decoded path).
    ///   - readiness: the server's readiness (give the same object to ``ServerConfiguration/readiness``).
    ///   - next: the responder for every other request.
    public init(path: String, readiness: Readiness, next: any HTTPResponder) {
        self.path = path
        self.readiness = readiness
        self.next = next
    }

    /// The health answer for ``path``; for other requests, `next`'s immediate answer when it has one.
    public func respondImmediately(to request: Request) throws -> Response? {
        guard request.path == path, request.method == .get || request.method == .head else {
            return try (next as? any ImmediateHTTPResponder)?.respondImmediately(to: request)
        }
        var response: Response = readiness.isServing ? .text("ok\n") : .text("draining\n", status: .serviceUnavailable)
        response.headerFields[.cacheControl] = "no-store"
        return response
    }

    /// The same answers, for callers that are not the connection (a router, a test).
    public func respond(to request: Request) async throws -> Response {
        if request.path == path, request.method == .get || request.method == .head, let answer = try respondImmediately(to: request) {
            return answer
        }
        return try await next.respond(to: request)
    }
}
