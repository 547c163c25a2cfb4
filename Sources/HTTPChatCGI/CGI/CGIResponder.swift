import HTTPChatCore
public import HTTPChatServer
import HTTPTypes
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How CGI scripts are run. Every value has a documented default.
public struct CGIOptions: Sendable {
    /// The URL prefix scripts are served under (default `/cgi-bin`), matched on the canonical path
    /// (``/HTTPChatServer/Request/pathSegments``): `//cgi-bin/x` and `/%63gi-bin/x` name the same script as `/cgi-bin/x`.
    public var urlPrefix = "/cgi-bin"
    /// How long a script may run before it is killed (default 30 s); 504 when it had not answered yet, and a
    /// response already begun is cut short. At the deadline the server stops reading the script's output
    /// whatever its children do (one that escaped the process group with `setsid` cannot hold the response).
    public var timeout: Duration = .seconds(30)
    /// `SERVER_NAME` (default `localhost`).
    public var serverName = "localhost"
    /// `SERVER_PORT` when the request came from no socket (default 80); otherwise the port it arrived on.
    public var serverPort = 80
    /// The largest response head a script may print, in bytes (default 64 KiB); 502 beyond.
    public var maxHeaderBytes = 64 * 1024
    /// The most scripts running at once for this responder (default 64); past it requests are answered
    /// `503 Service Unavailable` with `Retry-After` instead of starting another process.
    public var maxConcurrent = 64
    /// A chunked request body is read whole before its script starts, so that `CONTENT_LENGTH` is its exact
    /// size (RFC 3875 §4.1.2); larger ones are refused with 413 (default 8 MiB).
    public var maxChunkedBodyBytes = 8 * 1024 * 1024
    /// The document root `PATH_TRANSLATED` maps `PATH_INFO` through (RFC 3875 §4.1.6); without one it is not
    /// set. ``CGIFileServer`` sets it to the folder it serves.
    public var documentRoot: String?
    /// How many local redirects (`Location: /path` without a status, RFC 3875 §6.2.2) one request may follow,
    /// a script's redirect to itself included, before it is answered 502 (default 10, as Apache).
    public var maxLocalRedirects = 10

    /// The defaults.
    public init() {}
}

/// Runs CGI/1.1 scripts (RFC 3875) from one folder: `PREFIX/NAME[/PATH_INFO]` runs the executable `NAME` of
/// the folder and nothing outside it. The request body streams to the script's standard input; its standard
/// output is parsed as a CGI response whose body streams to the client (chunked); its standard error goes to
/// the log. The pipes are NIO channels: script I/O is event-driven with backpressure and takes no thread, so a
/// slow script delays no other request.
///
/// To serve a folder whose `cgi-bin` holds scripts, use ``CGIFileServer``: it makes the scripts-or-files
/// decision once and keeps the file server out of the scripts' folder. Mounted alone:
///
/// ```swift
/// let cgi = try CGIResponder(directory: "site/cgi-bin")
/// router.any("/cgi-bin/**") { try await cgi.respond(to: $0) }
/// ```
public struct CGIResponder: HTTPResponder {
    /// The scripts' folder (a real path).
    public let directory: String
    /// The options.
    public let options: CGIOptions
    /// Serves local redirects (`Location: /path` without a status), as RFC 3875 §6.2.2 asks.
    public let local: (any HTTPResponder)?
    /// Where standard error and failures go.
    public let logger: Logger
    /// The canonical segments of ``CGIOptions/urlPrefix``.
    let prefixSegments: [String]
    /// Scripts running now, against ``CGIOptions/maxConcurrent``.
    let running: RunningScripts
    /// The scripts' folder as a provider: a script is found by the walk the file server's lookups use
    /// (links only while they stay in the folder), and run by the real path the walk reached.
    private let scripts: LocalFileProvider

    /// The local redirects followed so far by the request this task is answering.
    @TaskLocal static var localRedirects = 0

    /// Creates a CGI responder. It leaves the process's signal dispositions alone: a script that exits before
    /// reading its input makes the write to its pipe fail with `EPIPE`, not kill the server, because SwiftNIO
    /// ignores SIGPIPE itself (on Linux, process-wide) before its first pipe or socket channel exists, and a
    /// script's input is written only through such a channel. Scripts start with every signal at its default.
    ///
    /// - Parameters:
    ///   - directory: the folder of executables.
    ///   - options: the options.
    ///   - local: the responder for local redirects (a ``/HTTPChatServer/FileServer``, say).
    ///   - logger: the logger.
    /// - Throws: ``/HTTPChatServer/FileServerError/rootNotADirectory(_:)`` when `directory` is not a folder, and
    ///   ``CGIConfigurationError`` when the options make no sense.
    public init(
        directory: String, options: CGIOptions = CGIOptions(), local: (any HTTPResponder)? = nil,
        logger: Logger = Logger(label: "httpchat.cgi")
    ) throws {
        let scripts = try LocalFileProvider(root: directory)
        let prefix = try Self.prefixSegments(options.urlPrefix)
        guard options.maxConcurrent >= 1 else { throw CGIConfigurationError(message: "maxConcurrent must be at least 1") }
        self.directory = scripts.root
        self.scripts = scripts
        self.options = options
        self.local = local
        self.logger = logger
        self.prefixSegments = prefix
        self.running = RunningScripts()
    }

    /// The canonical segments of a URL prefix: at least one, none holding a separator.
    ///
    /// - Throws: ``CGIConfigurationError`` for `/`, a malformed prefix, or one with `..`.
    static func prefixSegments(_ urlPrefix: String) throws -> [String] {
        guard let prefix = try? CanonicalPath.segments(Substring(urlPrefix)), !prefix.isEmpty,
            !prefix.contains(where: { CanonicalPath.hasSeparator($0) })
        else { throw CGIConfigurationError(message: "urlPrefix must name a path below /, got '\(urlPrefix)'") }
        return prefix
    }

    /// Runs the script the request names.
    ///
    /// - Parameter request: the request.
    /// - Returns: the script's response.
    /// - Throws: ``/HTTPChatServer/HTTPError`` 400 (bad path), 403 (not executable), 404 (no such script), 413 (a chunked body
    ///   over ``CGIOptions/maxChunkedBodyBytes``), 502 (no valid response), 503 (too many scripts running),
    ///   504 (no response before the timeout).
    public func respond(to request: Request) async throws -> Response {
        let segments = try request.pathSegments
        guard segments.count > prefixSegments.count, segments.starts(with: prefixSegments) else { throw HTTPError(.notFound) }
        return try await run(request, script: segments.dropFirst(prefixSegments.count), local: local)
    }

    /// Runs the script named by `script` (its name, then the PATH_INFO segments), answering a local redirect
    /// with `local`.
    func run(_ request: Request, script: ArraySlice<String>, local: (any HTTPResponder)?) async throws -> Response {
        guard let name = script.first else { throw HTTPError(.notFound) }
        // Decoded `/` or `\` (`..%2f`, `x%2F.secret`) would add path levels no segment check saw.
        for segment in script where CanonicalPath.hasSeparator(segment) {
            throw HTTPError(.badRequest, "bad path")
        }
        guard !CanonicalPath.isHidden(name) else { throw HTTPError(.notFound) }
        let rest = script.dropFirst()
        var pathInfo = rest.map { "/" + $0 }.joined()
        if CanonicalPath.hasTrailingSlash(request.rawPath) { pathInfo += "/" }
        let executable = try await locate(name)

        // The slot is taken before a chunked body is buffered, so the cap also bounds the memory those hold
        // (at most maxConcurrent x maxChunkedBodyBytes).
        guard running.enter(limit: options.maxConcurrent) else {
            logger.warning("cgi: too many scripts running", metadata: ["limit": "\(options.maxConcurrent)"])
            throw HTTPError(.serviceUnavailable, headerFields: [.retryAfter: "1"])
        }
        let running = self.running
        var input = request.body
        if input.knownLength == nil {
            // Chunked: read it whole so that CONTENT_LENGTH can be one exact number (RFC 3875 §4.1.2).
            do {
                input = RequestBody(bytes: try await input.collect(upTo: options.maxChunkedBodyBytes))
            } catch {
                running.leave()
                throw error
            }
        }
        var env = environment(for: request, bodyLength: input.knownLength, scriptName: CanonicalPath.encoded(prefixSegments) + "/" + name, pathInfo: pathInfo)
        env["SCRIPT_FILENAME"] = executable

        let run: CGIRun
        do {
            run = try await CGIRun.start(executable, environment: env, directory: directory, logger: logger, name: name) {
                running.leave()
            }
        } catch {
            running.leave()
            throw error
        }
        let head: CGIHead
        do {
            // A client that goes away while the script works (the connection cancels this task) stops the
            // script at once: it would otherwise run, and hold its slot, until the timeout. Once the head is
            // out, the body's producer does the same when it is cancelled.
            let timeout = options.timeout
            let maxHeaderBytes = options.maxHeaderBytes
            head = try await withTaskCancellationHandler {
                try await run.head(body: input, timeout: timeout, limit: maxHeaderBytes)
            } onCancel: {
                run.abandon()
            }
        } catch _ where Task.isCancelled {
            throw CancellationError()
        } catch CGIRun.Failure.timedOut {
            throw HTTPError(.gatewayTimeout)
        } catch {
            logger.error("cgi script gave no valid response", metadata: ["script": "\(name)", "error": "\(error)"])
            throw HTTPError(.badGateway)
        }
        if let location = head.location, head.status == nil, location.hasPrefix("/"), let local {
            run.abandon()  // a local redirect: the script's body is not used (RFC 3875 §6.2.2)
            return try await followLocalRedirect(location, from: request, name: name, with: local)
        }
        var fields = head.fields
        var status = head.status ?? .ok
        if let location = head.location {
            fields[.location] = location
            if head.status == nil { status = .found }  // a client redirect (RFC 3875 §6.2.3)
        }
        return Response(status: status, headerFields: fields, body: ResponseBody(producer: run.bodyProducer, length: nil))
    }

    /// Answers a local redirect as the server would answer a GET of `location` (RFC 3875 §6.2.2): through
    /// `local`, so a redirect to another script runs it. Chains are bounded by
    /// ``CGIOptions/maxLocalRedirects``, counted in a task-local value so that any responder in between
    /// (a router, a middleware) cannot reset the count.
    private func followLocalRedirect(_ location: String, from request: Request, name: String, with local: any HTTPResponder) async throws -> Response {
        let depth = Self.localRedirects + 1
        guard depth <= options.maxLocalRedirects else {
            logger.error("cgi local redirects exceed the limit", metadata: ["script": "\(name)", "limit": "\(options.maxLocalRedirects)"])
            throw HTTPError(.badGateway)
        }
        var fields = request.headerFields
        for name: HTTPField.Name in [.contentLength, .contentType, .transferEncoding] { fields[name] = nil }
        var redirected = Request(
            method: .get, target: location, version: request.version, headerFields: fields,
            remoteAddress: request.remoteAddress, localAddress: request.localAddress
        )
        redirected.peerAddress = request.peerAddress
        redirected.forwardedScheme = request.forwardedScheme
        redirected.forwardedHost = request.forwardedHost
        redirected.tls = request.tls
        return try await Self.$localRedirects.withValue(depth) { try await local.respond(to: redirected) }
    }

    /// The script's real path: inside the folder, a regular file, executable.
    private func locate(_ name: String) async throws -> String {
        guard let status = try await scripts.status([name]), status.info.isRegularFile, let path = status.localPath else {
            throw HTTPError(.notFound)
        }
        guard status.isExecutable else { throw HTTPError(.forbidden) }
        return path
    }

    /// The meta-variables of RFC 3875 §4.1, and HTTP_* for the request's fields but credentials, `Proxy`
    /// (httpoxy, CVE-2016-5385: it would become `HTTP_PROXY`, which HTTP clients read as their proxy) and
    /// names that would alias another field's variable.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - bodyLength: the body's exact byte count (the decoder's, or the dechunked size), nil for none.
    ///   - scriptName: `SCRIPT_NAME`.
    ///   - pathInfo: `PATH_INFO`, decoded.
    /// - Returns: the environment.
    func environment(for request: Request, bodyLength: Int?, scriptName: String, pathInfo: String) -> [String: String] {
        var env: [String: String] = [
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": "HTTPChat/\(HTTPChatVersion.string)",
            "SERVER_NAME": options.serverName,
            "SERVER_PORT": String(request.localAddress?.port ?? options.serverPort),
            "SERVER_PROTOCOL": request.version.description,
            "REQUEST_METHOD": request.method.rawValue,
            "QUERY_STRING": request.rawQuery.map(String.init) ?? "",
            "SCRIPT_NAME": scriptName,
            "PATH_INFO": pathInfo,
            "REMOTE_ADDR": request.remoteAddress?.ipAddress ?? "",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        ]
        if !pathInfo.isEmpty, let root = options.documentRoot { env["PATH_TRANSLATED"] = root + pathInfo }
        // Not in RFC 3875, but what scripts test for HTTPS under Apache and nginx (PHP's $_SERVER['HTTPS']).
        env["REQUEST_SCHEME"] = request.scheme
        if request.scheme == "https" { env["HTTPS"] = "on" }
        // One decimal number, whatever the request sent: two equal Content-Length fields arrive as one
        // length, a chunked body as its dechunked size.
        if let bodyLength, bodyLength > 0 || request.headerFields[.contentLength] != nil {
            env["CONTENT_LENGTH"] = String(bodyLength)
        }
        if let type = request.headerFields[.contentType] { env["CONTENT_TYPE"] = type }
        for field in request.headerFields {
            let lower = field.name.canonicalName
            if Self.unpassedFields.contains(lower) { continue }
            // `X_Forwarded_For` would land on the variable of `X-Forwarded-For`: names that are not letters,
            // digits and `-` are dropped, as Apache and nginx do.
            guard lower.utf8.allSatisfy({ Self.isVariableByte($0) }) else { continue }
            let key = "HTTP_" + String(lower.uppercased().map { $0 == "-" ? "_" : $0 })
            // Repeated fields join as one (RFC 9110 §5.3), with `, `; cookie pairs join with `; `, the only
            // separator a Cookie field has (RFC 6265 §5.4), as HTTP/2 requires when it recombines them.
            let separator = lower == "cookie" ? "; " : ", "
            env[key] = env[key].map { $0 + separator + field.value } ?? field.value
        }
        // An absolute-form target's authority is the host the request is for, over any Host field
        // (RFC 9112 §3.2.2).
        // A trusted proxy's forwarded host is the host the client asked for, over both.
        if let authority = request.forwardedHost ?? request.absoluteFormAuthority.map(String.init) { env["HTTP_HOST"] = authority }
        return env
    }

    /// Fields never passed as HTTP_* variables.
    static let unpassedFields: Set<String> = ["authorization", "proxy-authorization", "content-type", "content-length", "proxy"]

    private static func isVariableByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): true
        default: false
        }
    }
}

/// Options a ``CGIResponder`` cannot work with.
public struct CGIConfigurationError: Error, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// A count of running scripts, bounded.
final class RunningScripts: Sendable {
    private let count = NIOLockedValueBox(0)

    /// Counts one more script, unless `limit` run already.
    func enter(limit: Int) -> Bool {
        count.withLockedValue { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    /// One script has ended.
    func leave() { count.withLockedValue { $0 -= 1 } }

    /// Scripts running now.
    var current: Int { count.withLockedValue { $0 } }
}

/// The head of a CGI response (RFC 3875 §6.3).
struct CGIHead: Sendable {
    var status: HTTPResponse.Status?
    var location: String?
    var fields = HTTPFields()
}
