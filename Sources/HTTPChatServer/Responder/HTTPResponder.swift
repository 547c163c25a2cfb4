/// Answers requests: the one protocol user code implements (Go's `Handler`). A ``Router`` is one; so is a
/// closure wrapped in ``ResponderFunction``.
///
/// Throw ``HTTPError`` to answer with a status; any other error is answered 500 and logged.
///
/// ```swift
/// struct Hello: HTTPResponder {
///     func respond(to request: Request) async throws -> Response { .text("Hello") }
/// }
/// ```
public protocol HTTPResponder: Sendable {
    /// Answers one request. Called once per request, possibly concurrently for different connections.
    ///
    /// - Parameter request: the request; its body may still be arriving.
    /// - Returns: the response.
    /// - Throws: ``HTTPError`` for a chosen status; anything else becomes 500.
    func respond(to request: Request) async throws -> Response
}

/// A responder made from a closure (Go's `HandlerFunc`).
public struct ResponderFunction: HTTPResponder {
    private let closure: @Sendable (Request) async throws -> Response

    /// Wraps `closure`.
    ///
    /// - Parameter closure: answers a request.
    public init(_ closure: @escaping @Sendable (Request) async throws -> Response) {
        self.closure = closure
    }

    /// Calls the closure.
    public func respond(to request: Request) async throws -> Response {
        try await closure(request)
    }
}

/// A responder that can often answer without suspending. The server asks it first, on the event loop, and
/// only starts a task when it returns nil: a handler that completes at once costs no thread hop.
public protocol ImmediateHTTPResponder: HTTPResponder {
    /// Answers at once when it can, on the connection's event loop; must not block.
    ///
    /// - Parameter request: the request.
    /// - Returns: the response, or nil to be called through ``HTTPResponder/respond(to:)`` instead.
    /// - Throws: ``HTTPError`` for a chosen status; anything else becomes 500.
    func respondImmediately(to request: Request) throws -> Response?
}

/// Wraps a responder: sees each request before it, and its response after (Go's middleware, Hummingbird's
/// `RouterMiddleware`).
///
/// ```swift
/// struct Timing: HTTPMiddleware {
///     func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
///         var response = try await next.respond(to: request)
///         response.headerFields[HTTPField.Name("X-Served-By")!] = "httpchat"
///         return response
///     }
/// }
/// ```
public protocol HTTPMiddleware: Sendable {
    /// Handles a request, usually by calling `next`.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - next: the rest of the chain.
    /// - Returns: the response.
    /// - Throws: what `next` throws, or its own ``HTTPError``.
    func respond(to request: Request, next: any HTTPResponder) async throws -> Response
}

/// A middleware made from a closure.
public struct MiddlewareFunction: HTTPMiddleware {
    private let closure: @Sendable (Request, any HTTPResponder) async throws -> Response

    /// Wraps `closure`.
    ///
    /// - Parameter closure: handles a request, given the rest of the chain.
    public init(_ closure: @escaping @Sendable (Request, any HTTPResponder) async throws -> Response) {
        self.closure = closure
    }

    /// Calls the closure.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        try await closure(request, next)
    }
}

/// A responder with a middleware in front of it.
struct MiddlewareResponder: HTTPResponder {
    let middleware: any HTTPMiddleware
    let next: any HTTPResponder

    func respond(to request: Request) async throws -> Response {
        try await middleware.respond(to: request, next: next)
    }
}

extension HTTPResponder {
    /// This responder behind `middleware`, outermost first.
    ///
    /// - Parameter middleware: the middleware, the first one sees requests first.
    /// - Returns: the wrapped responder.
    public func wrapped(in middleware: [any HTTPMiddleware]) -> any HTTPResponder {
        middleware.reversed().reduce(self as any HTTPResponder) { MiddlewareResponder(middleware: $1, next: $0) }
    }
}
