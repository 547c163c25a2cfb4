public import HTTPTypes

/// Builds a route table: methods and path patterns to handlers, with groups and middleware. Mutable while
/// routes are added; ``build()`` checks for conflicts and freezes it into an immutable, `Sendable`
/// ``RouteTable``, the responder served on the hot path.
///
/// Patterns are `/`-separated segments: a literal (`notes`), a parameter (`:id`, one segment), `*` (any one
/// segment), or `**` (the rest of the path, last only). Literals win over parameters, parameters over `*`,
/// `*` over `**`. Paths are matched on ``Request/pathSegments``, the reading the file server and CGI share:
/// empty and `.` segments are ignored, so `/a/`, `//a` and `/./a` are the same path, and `..` is 400. HEAD is
/// served by GET routes. A path with routes but not for the method gets 405 with `Allow`; no route at all, 404;
/// a target that is no path (`CONNECT host:port`, `M-SEARCH *`), 501.
///
/// A handler that does not `await` is registered as immediate and runs on the event loop without starting a
/// task, when no middleware is in its way.
///
/// ```swift
/// let router = Router()
/// router.use(RequestLogger(logger: logger))
/// router.get("/health") { _ in .text("ok") }
/// router.group("/api") { api in
///     api.use(CORS())
///     api.get("/notes/:id") { request in try await notes.get(request.parameters.require("id")) }
/// }
/// let responder = try router.build()
/// ```
public final class Router {
    enum Handler: Sendable {
        case async(@Sendable (Request) async throws -> Response)
        case immediate(@Sendable (Request) throws -> Response)
    }

    struct Spec {
        var method: HTTPRequest.Method
        var pattern: String
        var segments: [PatternSegment]
        var handler: Handler
        var groups: [RouteGroup]
    }

    var specs: [Spec] = []
    var middleware: [any HTTPMiddleware] = []
    private(set) var root: RouteGroup!

    /// An empty router.
    public init() {
        root = RouteGroup(router: self, prefix: [], parent: nil)
    }

    /// Adds middleware in front of every request, unmatched ones included (404/405 pass through it).
    ///
    /// - Parameter middleware: the middleware; the first added sees requests first.
    public func use(_ middleware: any HTTPMiddleware) {
        self.middleware.append(middleware)
    }

    /// Adds a route whose handler may suspend.
    ///
    /// - Parameters:
    ///   - method: the method.
    ///   - pattern: the path pattern.
    ///   - handler: answers matching requests.
    public func on(
        _ method: HTTPRequest.Method,
        _ pattern: String,
        _ handler: @escaping @Sendable (Request) async throws -> Response
    ) {
        root.on(method, pattern, handler)
    }

    /// Adds a route whose handler answers at once (it runs on the event loop: it must not block).
    ///
    /// - Parameters:
    ///   - method: the method.
    ///   - pattern: the path pattern.
    ///   - handler: answers matching requests.
    public func on(
        _ method: HTTPRequest.Method,
        _ pattern: String,
        _ handler: @escaping @Sendable (Request) throws -> Response
    ) {
        root.on(method, pattern, handler)
    }

    /// A group of routes under `prefix`, with middleware of its own.
    ///
    /// - Parameters:
    ///   - prefix: the path prefix, for example `/api`.
    ///   - configure: adds the group's routes (or add them to the returned group).
    /// - Returns: the group, to add routes and middleware to.
    @discardableResult
    public func group(_ prefix: String, _ configure: (RouteGroup) -> Void = { _ in }) -> RouteGroup {
        root.group(prefix, configure)
    }

    /// Checks the routes and freezes them.
    ///
    /// - Returns: the immutable route table.
    /// - Throws: ``RouterError`` for a malformed pattern or two routes for the same method and path shape.
    public func build() throws(RouterError) -> RouteTable {
        try RouteTable(specs: specs, middleware: middleware)
    }
}

/// Routes under a common prefix, sharing middleware. Made by ``Router/group(_:_:)``.
public final class RouteGroup {
    unowned let router: Router
    let prefix: [PatternSegment]
    let parent: RouteGroup?
    var middleware: [any HTTPMiddleware] = []
    var prefixError: RouterError?

    init(router: Router, prefix: [PatternSegment], parent: RouteGroup?) {
        self.router = router
        self.prefix = prefix
        self.parent = parent
    }

    /// Adds middleware in front of this group's routes (and its subgroups'), inside the router's middleware.
    ///
    /// - Parameter middleware: the middleware.
    public func use(_ middleware: any HTTPMiddleware) {
        self.middleware.append(middleware)
    }

    /// A nested group.
    ///
    /// - Parameters:
    ///   - prefix: the path prefix, relative to this group.
    ///   - configure: adds the group's routes.
    /// - Returns: the nested group.
    @discardableResult
    public func group(_ prefix: String, _ configure: (RouteGroup) -> Void = { _ in }) -> RouteGroup {
        let child: RouteGroup
        do {
            child = RouteGroup(router: router, prefix: self.prefix + (try PatternSegment.parse(prefix)), parent: self)
        } catch {
            child = RouteGroup(router: router, prefix: self.prefix, parent: self)
            child.prefixError = error
        }
        configure(child)
        return child
    }

    /// Adds a route whose handler may suspend (as on ``Router``).
    public func on(
        _ method: HTTPRequest.Method,
        _ pattern: String,
        _ handler: @escaping @Sendable (Request) async throws -> Response
    ) {
        add(method, pattern, .async(handler))
    }

    /// Adds a route whose handler answers at once.
    public func on(
        _ method: HTTPRequest.Method,
        _ pattern: String,
        _ handler: @escaping @Sendable (Request) throws -> Response
    ) {
        add(method, pattern, .immediate(handler))
    }

    private func add(_ method: HTTPRequest.Method, _ pattern: String, _ handler: Router.Handler) {
        var chain: [RouteGroup] = []
        var g: RouteGroup? = self
        while let group = g {
            chain.insert(group, at: 0)
            g = group.parent
        }
        let segments: [PatternSegment]
        if let prefixError {
            segments = [.invalid(prefixError)]
        } else {
            do throws(RouterError) {
                segments = prefix + (try PatternSegment.parse(pattern))
            } catch {
                segments = [.invalid(error)]
            }
        }
        let fullPattern = "/" + segments.map(\.description).joined(separator: "/")
        router.specs.append(Router.Spec(method: method, pattern: fullPattern, segments: segments, handler: handler, groups: chain))
    }
}

// MARK: - Method shorthands

/// Something routes can be added to: a ``Router`` or a ``RouteGroup``. The method shorthands live here once.
public protocol RouteBuilder: AnyObject {
    /// Adds a route whose handler may suspend.
    func on(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping @Sendable (Request) async throws -> Response)
    /// Adds a route whose handler answers at once.
    func on(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping @Sendable (Request) throws -> Response)
}

extension Router: RouteBuilder {}
extension RouteGroup: RouteBuilder {}

extension RouteBuilder {
    /// A GET route (also serving HEAD).
    public func get(_ p: String, _ h: @escaping @Sendable (Request) async throws -> Response) { on(.get, p, h) }
    /// A GET route (also serving HEAD) that answers at once.
    public func get(_ p: String, _ h: @escaping @Sendable (Request) throws -> Response) { on(.get, p, h) }
    /// A POST route.
    public func post(_ p: String, _ h: @escaping @Sendable (Request) async throws -> Response) { on(.post, p, h) }
    /// A POST route that answers at once.
    public func post(_ p: String, _ h: @escaping @Sendable (Request) throws -> Response) { on(.post, p, h) }
    /// A PUT route.
    public func put(_ p: String, _ h: @escaping @Sendable (Request) async throws -> Response) { on(.put, p, h) }
    /// A PUT route that answers at once.
    public func put(_ p: String, _ h: @escaping @Sendable (Request) throws -> Response) { on(.put, p, h) }
    /// A PATCH route.
    public func patch(_ p: String, _ h: @escaping @Sendable (Request) async throws -> Response) { on(.patch, p, h) }
    /// A PATCH route that answers at once.
    public func patch(_ p: String, _ h: @escaping @Sendable (Request) throws -> Response) { on(.patch, p, h) }
    /// A DELETE route.
    public func delete(_ p: String, _ h: @escaping @Sendable (Request) async throws -> Response) { on(.delete, p, h) }
    /// A DELETE route that answers at once.
    public func delete(_ p: String, _ h: @escaping @Sendable (Request) throws -> Response) { on(.delete, p, h) }
}

/// Why a router could not be built.
public enum RouterError: Error, Hashable, Sendable {
    /// A pattern is malformed (an empty parameter name, `**` before the end, ...).
    case invalidPattern(String, reason: String)
    /// Two routes answer the same method on the same path shape.
    case conflict(method: String, first: String, second: String)
}

/// One segment of a path pattern.
enum PatternSegment: Hashable, CustomStringConvertible {
    case literal(String)
    case parameter(String)
    case any
    case rest
    case invalid(RouterError)

    static func parse(_ pattern: String) throws(RouterError) -> [PatternSegment] {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
        var segments: [PatternSegment] = []
        for (i, part) in parts.enumerated() {
            if part == "**" {
                guard i == parts.count - 1 else { throw .invalidPattern(pattern, reason: "** must be the last segment") }
                segments.append(.rest)
            } else if part == "*" {
                segments.append(.any)
            } else if part.hasPrefix(":") {
                let name = String(part.dropFirst())
                guard !name.isEmpty else { throw .invalidPattern(pattern, reason: "empty parameter name") }
                segments.append(.parameter(name))
            } else {
                guard let decoded = PercentEncoding.decode(part) else {
                    throw .invalidPattern(pattern, reason: "malformed percent-encoding")
                }
                segments.append(.literal(decoded))
            }
        }
        return segments
    }

    var description: String {
        switch self {
        case .literal(let s): return s
        case .parameter(let n): return ":" + n
        case .any: return "*"
        case .rest: return "**"
        case .invalid: return "<invalid>"
        }
    }
}
