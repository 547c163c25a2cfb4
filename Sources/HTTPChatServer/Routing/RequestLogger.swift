public import Logging

/// Middleware that logs one line per request: method, target, status, duration and client.
///
/// ```swift
/// router.use(RequestLogger(logger: Logger(label: "access")))
/// ```
public struct RequestLogger: HTTPMiddleware {
    /// Where lines go.
    public let logger: Logger
    /// The level of the lines (default `.info`).
    public let level: Logger.Level

    /// Creates the middleware.
    ///
    /// - Parameters:
    ///   - logger: where lines go.
    ///   - level: the level of the lines.
    public init(logger: Logger, level: Logger.Level = .info) {
        self.logger = logger
        self.level = level
    }

    /// Times the rest of the chain and logs the outcome; an error is logged as the status the client is sent for
    /// it (`ErrorResponse`), then rethrown.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        let start = ContinuousClock.now
        let client = request.remoteAddress?.ipAddress ?? "-"
        do {
            let response = try await next.respond(to: request)
            log(request, status: response.status.code, start: start, client: client)
            return response
        } catch {
            log(request, status: ErrorResponse(error).status.code, start: start, client: client)
            throw error
        }
    }

    private func log(_ request: Request, status: Int, start: ContinuousClock.Instant, client: String) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.log(
            level: level,
            "\(request.method.rawValue) \(request.target) \(status)",
            metadata: ["client": "\(client)", "ms": "\((ms * 100).rounded() / 100)"]
        )
    }
}
