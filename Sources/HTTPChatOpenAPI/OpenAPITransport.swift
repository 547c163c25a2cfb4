public import HTTPChatServer
public import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
public import OpenAPIRuntime

/// A `ServerTransport` for swift-openapi-runtime: the handlers swift-openapi-generator writes
/// (`registerHandlers(on:serverURL:)`) become routes of a ``/HTTPChatServer/Router`` or ``/HTTPChatServer/RouteGroup``, served by HTTPChat.
///
/// ```swift
/// let router = Router()
/// let transport = OpenAPITransport(router)
/// try GreeterAPI().registerHandlers(on: transport, serverURL: try Servers.Server1.url())
/// let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
/// ```
///
/// - Paths: the document's templates (`/pets/{petId}`) become router patterns (`/pets/:petId`); a segment
///   that mixes text and variables (`/files/{name}.zip`) is matched by the transport, and operations whose
///   paths differ only there share one route and are tried most literal text first. Path parameters reach
///   the generated code as sent, still percent-encoded, as the runtime expects to decode them itself.
/// - Bodies stream both ways: the request body is the connection's stream (the socket is read as the
///   handler reads), and a response body is written as its chunks come, with `Content-Length` when its length
///   is known, chunked otherwise.
/// - Errors: an error the runtime can turn into a response (`HTTPResponseConvertible`: a malformed parameter
///   or body is 400, an unacceptable content type 415, your own conforming errors) is answered with it; any
///   other error a handler throws is rethrown to HTTPChat, so an ``/HTTPChatServer/HTTPError`` keeps its status and an
///   unexpected error is a logged 500, as elsewhere (the one error-to-status mapping the server uses).
/// - The router's and groups' middleware runs around every operation, as for any route.
public final class OpenAPITransport: ServerTransport {
    private let routes: any RouteBuilder
    private let table = NIOLockedValueBox<[RouteKey: Candidates]>([:])

    /// Registers operations on `routes` (a router, or a group: `router.group("/api")`).
    ///
    /// - Parameter routes: where the operations become routes.
    public init(_ routes: any RouteBuilder) {
        self.routes = routes
    }

    /// Registers one operation (called by the generated `registerHandlers`).
    ///
    /// - Parameters:
    ///   - handler: the generated handler.
    ///   - method: the operation's method.
    ///   - path: the path template, for example `/pets/{petId}`.
    /// - Throws: ``OpenAPITransportError`` for a template that is not well formed.
    public func register(
        _ handler: @Sendable @escaping (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method,
        path: String
    ) throws {
        let template = try PathTemplate(path)
        let key = RouteKey(method: method, pattern: template.routerPattern)
        let operation = Operation(template: template, handler: handler)
        let isNew = table.withLockedValue { table -> Bool in
            if let existing = table[key] {
                existing.add(operation)
                return false
            }
            table[key] = Candidates(operation)
            return true
        }
        guard isNew, let candidates = table.withLockedValue({ $0[key] }) else { return }
        routes.on(method, template.routerPattern) { request in
            try await Self.serve(request, candidates: candidates.all)
        }
    }

    private static func serve(_ request: Request, candidates: [Operation]) async throws -> Response {
        let rawSegments = Self.rawSegments(request.rawPath)
        for operation in candidates {
            guard let parameters = operation.template.match(rawSegments) else { continue }
            return try await run(operation.handler, request, ServerRequestMetadata(pathParameters: parameters))
        }
        throw HTTPError(.notFound)
    }

    /// The path's segments as sent (still percent-encoded), read as the router reads the canonical path: split
    /// on the `/` byte (never on Characters, which a combining mark can merge with the slash), without empty
    /// segments (`//`) and `.` ones (`%2e` too), so that the router and the transport count the same segments.
    static func rawSegments(_ path: Substring) -> ArraySlice<Substring> {
        var segments: [Substring] = []
        var start = path.startIndex
        var index = path.startIndex
        func close(_ end: Substring.Index) {
            let segment = path[start..<end]
            if !segment.isEmpty, segment != ".", segment.lowercased() != "%2e" { segments.append(segment) }
        }
        while index < path.endIndex {
            if path.utf8[index] == UInt8(ascii: "/") {
                close(index)
                start = path.utf8.index(after: index)
            }
            index = path.utf8.index(after: index)
        }
        close(path.endIndex)
        return segments[...]
    }

    private static func run(
        _ handler: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        _ request: Request,
        _ metadata: ServerRequestMetadata
    ) async throws -> Response {
        let (head, body) = httpRequest(request)
        do {
            let (response, responseBody) = try await handler(head, body, metadata)
            return self.response(response, responseBody)
        } catch let error as ServerError {
            if let convertible = error.underlyingError as? any HTTPResponseConvertible {
                return answer(convertible)
            }
            throw error.underlyingError
        } catch let error as any HTTPResponseConvertible {
            return answer(error)
        }
    }

    private static func answer(_ error: any HTTPResponseConvertible) -> Response {
        self.response(HTTPResponse(status: error.httpStatus, headerFields: error.httpHeaderFields), error.httpBody)
    }

    /// The request as HTTPTypes has it, with its body as an `HTTPBody` over the connection's stream (nil when
    /// there is none).
    static func httpRequest(_ request: Request) -> (HTTPRequest, HTTPBody?) {
        var path = String(request.rawPath)
        if let query = request.rawQuery { path += "?" + query }
        let authority = request.headerFields[HTTPField.Name("Host")!]
        let head = HTTPRequest(
            method: request.method, scheme: request.scheme, authority: authority, path: path,
            headerFields: request.headerFields
        )
        let knownLength = request.body.knownLength
        guard knownLength != 0 else { return (head, nil) }
        let bytes = request.body.map { buffer in ArraySlice(buffer.readableBytesView) }
        let body = HTTPBody(bytes, length: knownLength.map { .known(Int64($0)) } ?? .unknown, iterationBehavior: .single)
        return (head, body)
    }

    /// The generated code's response as an HTTPChat response: the body streamed chunk by chunk, framed by
    /// HTTPChat (the fields' own framing fields are dropped: the connection writes them from the length).
    static func response(_ response: HTTPResponse, _ body: HTTPBody?) -> Response {
        var fields = response.headerFields
        fields[.contentLength] = nil
        fields[.transferEncoding] = nil
        guard let body else { return Response(status: response.status, headerFields: fields) }
        let length: Int? = if case .known(let n) = body.length { Int(n) } else { nil }
        return Response(status: response.status, headerFields: fields, body: .stream(length: length) { writer in
            for try await chunk in body { try await writer.write(ByteBuffer(bytes: chunk)) }
        })
    }
}

/// Why an operation could not be registered.
public enum OpenAPITransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The path template is not well formed (an unclosed `{`, an empty or repeated name, two variables with
    /// nothing between them).
    case invalidTemplate(String, reason: String)

    /// A message for people.
    public var description: String {
        switch self {
        case .invalidTemplate(let path, let reason): return "invalid OpenAPI path template \(path): \(reason)"
        }
    }
}

private struct RouteKey: Hashable {
    var method: HTTPRequest.Method
    var pattern: String
}

private struct Operation: Sendable {
    let template: PathTemplate
    let handler: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
}

/// The operations sharing one route, most literal text first.
private final class Candidates: Sendable {
    private let operations: NIOLockedValueBox<[Operation]>

    init(_ first: Operation) { operations = NIOLockedValueBox([first]) }

    func add(_ operation: Operation) {
        operations.withLockedValue {
            $0.append(operation)
            $0.sort { $0.template.literalCount > $1.template.literalCount }
        }
    }

    var all: [Operation] { operations.withLockedValue { $0 } }
}

/// An OpenAPI path template, segment by segment.
struct PathTemplate: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case literal(String)
        case variable(String)
    }

    /// Each segment's parts: `pets` is `[.literal("pets")]`, `{petId}` is `[.variable("petId")]`, `{name}.zip`
    /// is `[.variable("name"), .literal(".zip")]`.
    let segments: [[Part]]

    init(_ path: String) throws(OpenAPITransportError) {
        guard path.hasPrefix("/") else { throw .invalidTemplate(path, reason: "it does not start with /") }
        var names = Set<String>()
        var segments: [[Part]] = []
        for raw in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var parts: [Part] = []
            var rest = raw[...]
            while !rest.isEmpty {
                if rest.first == "{" {
                    guard let close = rest.firstIndex(of: "}") else { throw .invalidTemplate(path, reason: "a { is not closed") }
                    let name = String(rest[rest.index(after: rest.startIndex)..<close])
                    guard !name.isEmpty, !name.contains("{") else { throw .invalidTemplate(path, reason: "a variable has no name") }
                    guard names.insert(name).inserted else { throw .invalidTemplate(path, reason: "{\(name)} appears twice") }
                    if case .variable? = parts.last {
                        throw .invalidTemplate(path, reason: "two variables with nothing between them")
                    }
                    parts.append(.variable(name))
                    rest = rest[rest.index(after: close)...]
                } else {
                    let end = rest.firstIndex(of: "{") ?? rest.endIndex
                    let text = String(rest[..<end])
                    guard !text.contains("}") else { throw .invalidTemplate(path, reason: "a } without {") }
                    parts.append(.literal(text))
                    rest = rest[end...]
                }
            }
            segments.append(parts)
        }
        self.segments = segments
    }

    /// The router's pattern: whole-variable segments are `:name`, mixed ones a parameter the transport
    /// matches itself (named by position, so that operations differing only there share a route).
    var routerPattern: String {
        if segments == [[]] { return "/" }
        return "/" + segments.enumerated().map { index, parts -> String in
            switch parts.count {
            case 0: return ""
            case 1:
                switch parts[0] {
                case .literal(let text): return text
                case .variable: return ":_\(index)"
                }
            default: return ":_\(index)"
            }
        }.joined(separator: "/")
    }

    /// How much fixed text the template has (more is tried first among operations sharing a route).
    var literalCount: Int {
        segments.joined().reduce(0) { count, part in
            if case .literal(let text) = part { return count + text.count }
            return count
        }
    }

    /// The variables' raw values when the end of `raw` (the path's segments, still percent-encoded) fits the
    /// template. The end: a group's prefix, which the router matched already, comes before the template's
    /// segments.
    func match(_ raw: ArraySlice<Substring>) -> [String: Substring]? {
        let own = segments.filter { !$0.isEmpty }  // `/` and a trailing `/` add no segment, as for the router
        guard raw.count >= own.count else { return nil }
        var values: [String: Substring] = [:]
        for (parts, segment) in zip(own, raw.suffix(own.count)) {
            guard Self.match(parts[...], segment[...], into: &values) else { return nil }
        }
        return values
    }

    /// Matches one segment: literals exactly, each variable up to the next literal's first occurrence (at least
    /// one byte), the last variable to the end.
    private static func match(_ parts: ArraySlice<Part>, _ text: Substring, into values: inout [String: Substring]) -> Bool {
        guard let first = parts.first else { return text.isEmpty }
        switch first {
        case .literal(let literal):
            guard text.hasPrefix(literal) else { return false }
            return match(parts.dropFirst(), text.dropFirst(literal.count), into: &values)
        case .variable(let name):
            guard let next = parts.dropFirst().first else {
                guard !text.isEmpty else { return false }
                values[name] = text
                return true
            }
            guard case .literal(let literal) = next,
                  let found = text.dropFirst().firstRange(of: literal)
            else { return false }
            values[name] = text[..<found.lowerBound]
            return match(parts.dropFirst(), text[found.lowerBound...], into: &values)
        }
    }
}
