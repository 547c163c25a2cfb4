import HTTPTypes

/// The frozen form of a ``Router``: an immutable segment trie, safe to share across event loops. It is the
/// responder a server runs: it matches, captures parameters, runs the route's middleware and handler, and
/// answers 404, or 405 with `Allow`, when nothing matches.
public struct RouteTable: ImmediateHTTPResponder {
    struct Endpoint: Sendable {
        let pattern: String
        /// The name of each captured value, in order (`*` and `**` under their own symbols).
        let captureNames: [String]
        let responder: any HTTPResponder
        /// Set when the handler answers at once and no group middleware wraps it.
        let immediate: (@Sendable (Request) throws -> Response)?
        /// The middleware of the route's groups, outermost first: an `OPTIONS` at its path runs through it
        /// (a group's ``CORS`` answers the preflight) before the 405.
        var groupMiddleware: [any HTTPMiddleware] = []
    }

    final class Node: Sendable {
        let literals: [String: Node]
        let parameter: Node?
        let any: Node?
        let endpoints: [HTTPRequest.Method: Endpoint]
        /// Endpoints of `**` patterns ending here (they match zero or more further segments).
        let rest: [HTTPRequest.Method: Endpoint]

        init(
            literals: [String: Node], parameter: Node?, any: Node?,
            endpoints: [HTTPRequest.Method: Endpoint], rest: [HTTPRequest.Method: Endpoint]
        ) {
            self.literals = literals
            self.parameter = parameter
            self.any = any
            self.endpoints = endpoints
            self.rest = rest
        }
    }

    let root: Node
    let middleware: [any HTTPMiddleware]
    private let chain: (any HTTPResponder)?

    init(specs: [Router.Spec], middleware: [any HTTPMiddleware]) throws(RouterError) {
        let builder = NodeBuilder()
        for spec in specs {
            for segment in spec.segments {
                if case .invalid(let error) = segment { throw error }
            }
            try builder.insert(spec, at: spec.segments[...])
        }
        self.root = builder.freeze()
        self.middleware = middleware
        self.chain = middleware.isEmpty ? nil : Dispatcher(root: root).wrapped(in: middleware)
    }

    /// Matches and answers, through the router's middleware.
    ///
    /// - Parameter request: the request.
    /// - Returns: the route's response.
    /// - Throws: ``HTTPError`` 404, 405 (with `Allow`), 400 for a malformed path, 501 for a target that is
    ///   not a path (`CONNECT host:port`, `M-SEARCH *`); the handler's errors.
    public func respond(to request: Request) async throws -> Response {
        if let chain { return try await chain.respond(to: request) }
        return try await Dispatcher(root: root).respond(to: request)
    }

    /// Answers on the event loop when the matched route's handler is immediate and no middleware is involved.
    ///
    /// - Parameter request: the request.
    /// - Returns: the response, or nil when the route must run as a task.
    /// - Throws: ``HTTPError`` 404/405/400/501; the handler's errors.
    public func respondImmediately(to request: Request) throws -> Response? {
        guard chain == nil else { return nil }
        let (endpoint, routed) = try Self.route(request, root: root)
        guard let immediate = endpoint.immediate else { return nil }
        return try immediate(routed)
    }

    /// The route for a request, with its parameters filled in.
    static func route(_ request: Request, root: Node) throws -> (Endpoint, Request) {
        // Routes are paths. A target in authority-form (CONNECT's `host:port`) or asterisk-form names none, and
        // was routed as if it were one segment: a router neither tunnels (RFC 9110 §9.3.6) nor answers for the
        // whole server (`OPTIONS *` is the server's own, see ServerWideOptions), so it does not implement them.
        guard request.rawPath.utf8.first == UInt8(ascii: "/") else { throw HTTPError(.notImplemented) }
        let segments = try request.pathSegments  // the reading the file server and CGI share
        var captures: [String] = []
        if let endpoint = find(root, segments[...], request.method, &captures) {
            var routed = request
            for (name, value) in zip(endpoint.captureNames, captures) { routed.parameters.append(name, value) }
            return (endpoint, routed)
        }
        var allowed = Set<HTTPRequest.Method>()
        collectMethods(root, segments[...], into: &allowed)
        guard !allowed.isEmpty else { throw HTTPError(.notFound) }
        if allowed.contains(.get) { allowed.insert(.head) }
        var fields = HTTPFields()
        let methods = allowed.map(\.rawValue).sorted()
        fields[.allow] = methods.joined(separator: ", ")
        let notAllowed = HTTPError(.methodNotAllowed, headerFields: fields)
        // A browser's CORS preflight (OPTIONS) for a path whose routes sit in a group with middleware: the
        // group's middleware sees it (its CORS answers, naming the methods routed here), then the 405.
        if request.method == .options {
            for method in methods.compactMap({ HTTPRequest.Method($0) }) {
                var ownerCaptures: [String] = []
                guard let owner = find(root, segments[...], method, &ownerCaptures), !owner.groupMiddleware.isEmpty else { continue }
                var routed = request
                for (name, value) in zip(owner.captureNames, ownerCaptures) { routed.parameters.append(name, value) }
                routed.routedMethods = methods
                let answer = ResponderFunction { _ in throw notAllowed }.wrapped(in: owner.groupMiddleware)
                return (Endpoint(pattern: owner.pattern, captureNames: owner.captureNames, responder: answer, immediate: nil), routed)
            }
        }
        throw notAllowed
    }

    private static func endpoint(in table: [HTTPRequest.Method: Endpoint], for method: HTTPRequest.Method) -> Endpoint? {
        if let e = table[method] { return e }
        if method == .head { return table[.get] }  // RFC 9110 §9.3.2: HEAD is GET without the body
        return nil
    }

    /// Depth-first, in precedence order, backtracking when a branch has no route for the method.
    private static func find(
        _ node: Node, _ rest: ArraySlice<String>, _ method: HTTPRequest.Method, _ captures: inout [String]
    ) -> Endpoint? {
        guard let segment = rest.first else {
            if let e = endpoint(in: node.endpoints, for: method) { return e }
            if let e = endpoint(in: node.rest, for: method) {
                captures.append("")
                return e
            }
            return nil
        }
        let tail = rest.dropFirst()
        if let next = node.literals[segment], let e = find(next, tail, method, &captures) { return e }
        for child in [node.parameter, node.any] {
            guard let child else { continue }
            captures.append(segment)
            if let e = find(child, tail, method, &captures) { return e }
            captures.removeLast()
        }
        if let e = endpoint(in: node.rest, for: method) {
            captures.append(rest.joined(separator: "/"))
            return e
        }
        return nil
    }

    private static func collectMethods(_ node: Node, _ rest: ArraySlice<String>, into allowed: inout Set<HTTPRequest.Method>) {
        allowed.formUnion(node.rest.keys)
        guard let segment = rest.first else {
            allowed.formUnion(node.endpoints.keys)
            return
        }
        let tail = rest.dropFirst()
        if let next = node.literals[segment] { collectMethods(next, tail, into: &allowed) }
        if let p = node.parameter { collectMethods(p, tail, into: &allowed) }
        if let a = node.any { collectMethods(a, tail, into: &allowed) }
    }

    /// The innermost responder behind the router's middleware: match and run the route.
    struct Dispatcher: HTTPResponder {
        let root: Node
        func respond(to request: Request) async throws -> Response {
            let (endpoint, routed) = try RouteTable.route(request, root: root)
            MatchedRoute.current?.pattern = endpoint.pattern
            if let immediate = endpoint.immediate { return try immediate(routed) }
            return try await endpoint.responder.respond(to: routed)
        }
    }

    /// The mutable trie used while building.
    final class NodeBuilder {
        var literals: [String: NodeBuilder] = [:]
        var parameter: NodeBuilder?
        var any: NodeBuilder?
        var endpoints: [HTTPRequest.Method: (Endpoint, String)] = [:]
        var rest: [HTTPRequest.Method: (Endpoint, String)] = [:]

        func insert(_ spec: Router.Spec, at segments: ArraySlice<PatternSegment>) throws(RouterError) {
            guard let segment = segments.first else {
                try add(spec, to: &endpoints)
                return
            }
            let tail = segments.dropFirst()
            switch segment {
            case .literal(let s):
                let next = literals[s] ?? NodeBuilder()
                literals[s] = next
                try next.insert(spec, at: tail)
            case .parameter:
                let next = parameter ?? NodeBuilder()
                parameter = next
                try next.insert(spec, at: tail)
            case .any:
                let next = any ?? NodeBuilder()
                any = next
                try next.insert(spec, at: tail)
            case .rest:
                try add(spec, to: &rest)
            case .invalid(let error):
                throw error
            }
        }

        private func add(_ spec: Router.Spec, to table: inout [HTTPRequest.Method: (Endpoint, String)]) throws(RouterError) {
            if let (_, existing) = table[spec.method] {
                throw .conflict(method: spec.method.rawValue, first: existing, second: spec.pattern)
            }
            table[spec.method] = (Self.endpoint(for: spec), spec.pattern)
        }

        static func endpoint(for spec: Router.Spec) -> Endpoint {
            let names: [String] = spec.segments.compactMap {
                switch $0 {
                case .parameter(let n): return n
                case .any: return "*"
                case .rest: return "**"
                default: return nil
                }
            }
            let groupMiddleware = spec.groups.flatMap(\.middleware)
            let base: any HTTPResponder
            var immediate: (@Sendable (Request) throws -> Response)?
            switch spec.handler {
            case .async(let h):
                base = ResponderFunction(h)
            case .immediate(let h):
                base = ResponderFunction { try h($0) }
                if groupMiddleware.isEmpty { immediate = h }
            }
            return Endpoint(
                pattern: spec.pattern, captureNames: names,
                responder: base.wrapped(in: groupMiddleware), immediate: immediate, groupMiddleware: groupMiddleware
            )
        }

        func freeze() -> Node {
            Node(
                literals: literals.mapValues { $0.freeze() },
                parameter: parameter?.freeze(),
                any: any?.freeze(),
                endpoints: endpoints.mapValues(\.0),
                rest: rest.mapValues(\.0)
            )
        }
    }
}
