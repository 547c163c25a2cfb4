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
    /// The URL prefix scripts are served under (default `/cgi-bin`).
    public var urlPrefix = "/cgi-bin"
    /// How long a script may run before it is killed (default 30 s); 504 when it had not answered yet.
    public var timeout: Duration = .seconds(30)
    /// `SERVER_NAME` (default `localhost`).
    public var serverName = "localhost"
    /// `SERVER_PORT` (default 80).
    public var serverPort = 80
    /// The largest response head a script may print, in bytes (default 64 KiB); 502 beyond.
    public var maxHeaderBytes = 64 * 1024

    /// The defaults.
    public init() {}
}

/// Runs CGI/1.1 scripts (RFC 3875) from one folder: `PREFIX/NAME[/PATH_INFO]` runs the executable `NAME` of
/// the folder and nothing outside it. The request body streams to the script's standard input; its standard
/// output is parsed as a CGI response whose body streams to the client (chunked); its standard error goes to
/// the log. The pipes are NIO channels: script I/O is event-driven with backpressure and takes no thread, so a
/// slow script delays no other request.
///
/// ```swift
/// let cgi = try CGIResponder(directory: "site/cgi-bin", local: files)
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

    /// Creates a CGI responder. Ignores SIGPIPE for the process: a script that exits before reading its input
    /// must not kill the server.
    ///
    /// - Parameters:
    ///   - directory: the folder of executables.
    ///   - options: the options.
    ///   - local: the responder for local redirects (a ``FileServer``, say).
    ///   - logger: the logger.
    /// - Throws: ``FileServerError/rootNotADirectory(_:)`` when `directory` is not a folder.
    public init(
        directory: String, options: CGIOptions = CGIOptions(), local: (any HTTPResponder)? = nil,
        logger: Logger = Logger(label: "httpchat.cgi")
    ) throws {
        guard let resolved = realpath(directory, nil) else { throw FileServerError.rootNotADirectory(directory) }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard PathResolution.info(real)?.isDirectory == true else { throw FileServerError.rootNotADirectory(directory) }
        self.directory = real
        self.options = options
        self.local = local
        self.logger = logger
        signal(SIGPIPE, SIG_IGN)
    }

    /// Runs the script the request names.
    ///
    /// - Parameter request: the request.
    /// - Returns: the script's response.
    /// - Throws: ``HTTPError`` 400 (bad path), 403 (not executable), 404 (no such script), 502 (no valid
    ///   response), 504 (no response before the timeout).
    public func respond(to request: Request) async throws -> Response {
        let raw = request.rawPath
        guard raw.hasPrefix(options.urlPrefix) else { throw HTTPError(.notFound) }
        let rest = raw.dropFirst(options.urlPrefix.count)
        guard rest.first == "/" else { throw HTTPError(.notFound) }
        let afterSlash = rest.dropFirst()
        let rawName = afterSlash.prefix { $0 != "/" }
        guard let name = PercentEncoding.decode(rawName) else { throw HTTPError(.badRequest, "bad path") }
        if name == ".." || name.contains("\\") { throw HTTPError(.badRequest, "bad path") }  // as the file server
        guard !name.isEmpty, !name.hasPrefix(".") else { throw HTTPError(.notFound) }
        guard let pathInfo = PercentEncoding.decode(afterSlash.dropFirst(rawName.count)) else {
            throw HTTPError(.badRequest, "bad path")
        }
        let script = try await locate(name)
        var env = environment(for: request, scriptName: options.urlPrefix + "/" + name, pathInfo: pathInfo)
        env["SCRIPT_FILENAME"] = script

        let run = try await CGIRun.start(script, environment: env, directory: directory, logger: logger, name: name)
        let head: CGIHead
        do {
            head = try await run.head(body: request.body, timeout: options.timeout, limit: options.maxHeaderBytes)
        } catch CGIRun.Failure.timedOut {
            throw HTTPError(.gatewayTimeout)
        } catch {
            logger.error("cgi script gave no valid response", metadata: ["script": "\(name)", "error": "\(error)"])
            throw HTTPError(.badGateway)
        }
        if let location = head.location, head.status == nil, location.hasPrefix("/"), let local {
            run.abandon()  // a local redirect: the script's body is not used (RFC 3875 §6.2.2)
            return try await local.respond(to: Request(method: .get, target: location, version: request.version, remoteAddress: request.remoteAddress))
        }
        var fields = head.fields
        var status = head.status ?? .ok
        if let location = head.location {
            fields[.location] = location
            if head.status == nil { status = .found }  // a client redirect (RFC 3875 §6.2.3)
        }
        return Response(status: status, headerFields: fields, body: ResponseBody(producer: run.bodyProducer, length: nil))
    }

    /// The script's real path: inside the folder, a regular file, executable.
    private func locate(_ name: String) async throws -> String {
        let directory = self.directory
        let candidate = directory + "/" + name
        let found = try await NIOThreadPool.singleton.runIfActive { () -> (String?, Bool) in
            guard let real = PathResolution.realPath(candidate, root: directory, followSymlinks: false),
                real != directory, let info = PathResolution.info(real), info.isRegularFile
            else { return (nil, false) }
            return (real, access(real, X_OK) == 0)
        }
        guard let path = found.0 else { throw HTTPError(.notFound) }
        guard found.1 else { throw HTTPError(.forbidden) }
        return path
    }

    /// The meta-variables of RFC 3875 §4.1, and HTTP_* for the request's fields except credentials.
    func environment(for request: Request, scriptName: String, pathInfo: String) -> [String: String] {
        var env: [String: String] = [
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": "HTTPChat/\(HTTPChatVersion.string)",
            "SERVER_NAME": options.serverName,
            "SERVER_PORT": String(options.serverPort),
            "SERVER_PROTOCOL": request.version.description,
            "REQUEST_METHOD": request.method.rawValue,
            "QUERY_STRING": request.rawQuery.map(String.init) ?? "",
            "SCRIPT_NAME": scriptName,
            "PATH_INFO": pathInfo,
            "REMOTE_ADDR": request.remoteAddress?.ipAddress ?? "",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        ]
        if !pathInfo.isEmpty { env["PATH_TRANSLATED"] = directory + pathInfo }
        if let length = request.headerFields[.contentLength] { env["CONTENT_LENGTH"] = length }
        if let type = request.headerFields[.contentType] { env["CONTENT_TYPE"] = type }
        for field in request.headerFields {
            let lower = field.name.canonicalName
            if ["authorization", "proxy-authorization", "content-type", "content-length"].contains(lower) { continue }
            let key = "HTTP_" + String(lower.uppercased().map { $0 == "-" ? "_" : $0 })
            env[key] = env[key].map { $0 + ", " + field.value } ?? field.value
        }
        return env
    }
}

/// The head of a CGI response (RFC 3875 §6.3).
struct CGIHead: Sendable {
    var status: HTTPResponse.Status?
    var location: String?
    var fields = HTTPFields()
}
