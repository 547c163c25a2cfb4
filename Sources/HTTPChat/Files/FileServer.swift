import HTTPTypes
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a ``FileServer`` serves a folder. Every option has a documented default.
public struct FileServerOptions: Sendable {
    /// Directory listings when there is no `index.html` (default on; off answers 404).
    public var listing = true
    /// Serve names starting with `.` (default off: they are 404, at any depth).
    public var hidden = false
    /// Follow symlinks whose targets leave the root (default off: only links that stay inside are followed).
    public var followSymlinks = false
    /// Compress compressible types with gzip when the client accepts it (default on).
    public var gzip = true
    /// Files smaller than this are never compressed (default 1 KiB).
    public var gzipMinimumSize = 1024
    /// zlib's level, 1 to 9 (default 6, as nginx).
    public var gzipLevel: Int32 = 6
    /// A `Cache-Control` value for files (default none).
    public var cacheControl: String?
    /// A file (relative to the root) answered for unknown paths that accept HTML: client-side routing.
    public var spaFallback: String?
    /// Use `404.html` in the root as the body of 404 answers, when it exists (default on).
    public var notFoundPage = true
    /// More ranges than this in one Range header is ignored as abuse (default 16).
    public var maxRanges = 16

    /// The defaults.
    public init() {}
}

/// Serves files under a root folder: safe paths, content types, validators and conditional requests, byte
/// ranges, directory listings, gzip (precompressed `NAME.gz` when present, else on the fly), sendfile for
/// everything sent uncompressed. No file I/O happens on an event loop.
///
/// ```swift
/// let files = try FileServer(root: "./public")
/// let server = try await HTTPServer.start(configuration: config, responder: files)
/// // or mounted on a router:
/// let assets = try FileServer(root: "./assets", mountPath: "/assets")
/// router.get("/assets/**") { try await assets.respond(to: $0) }
/// ```
public struct FileServer: HTTPResponder {
    /// The root's real path.
    public let root: String
    /// The URL path the root is served at (`/` by default).
    public let mountPath: String
    /// The options.
    public let options: FileServerOptions

    /// Creates a file server.
    ///
    /// - Parameters:
    ///   - root: the folder to serve.
    ///   - mountPath: the URL prefix it is served under (default `/`).
    ///   - options: the options.
    /// - Throws: ``FileServerError/rootNotADirectory(_:)`` when `root` is not an existing folder.
    public init(root: String, mountPath: String = "/", options: FileServerOptions = FileServerOptions()) throws {
        guard let resolved = realpath(root, nil) else { throw FileServerError.rootNotADirectory(root) }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard PathResolution.info(real)?.isDirectory == true else { throw FileServerError.rootNotADirectory(root) }
        self.root = real
        self.mountPath = mountPath.hasSuffix("/") ? String(mountPath.dropLast()) : mountPath
        self.options = options
    }

    /// What a path turned out to be, found on the thread pool.
    enum Found {
        case file(NIOFileHandle, FileInfo, path: String)
        case directory(path: String)
        case missing
    }

    /// Answers GET and HEAD for files under the root.
    ///
    /// - Parameter request: the request.
    /// - Returns: 200, 206, 301, 304, 404 (or `404.html`), 405, 412 or 416 as the request calls for.
    /// - Throws: ``HTTPError`` 400 for hostile paths, 404, 405.
    public func respond(to request: Request) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, headerFields: [.allow: "GET, HEAD"])
        }
        let rawPath = request.rawPath
        guard rawPath.hasPrefix(mountPath) else { return try await notFound(request) }
        let segments: [String]
        do {
            segments = try PathResolution.segments(rawPath.dropFirst(mountPath.count), hidden: options.hidden)
        } catch .badRequest {
            throw HTTPError(.badRequest, "bad path")
        } catch {
            return try await notFound(request)
        }
        let candidate = segments.isEmpty ? root : root + "/" + segments.joined(separator: "/")
        switch try await find(candidate) {
        case .missing:
            return try await notFound(request)
        case .directory(let path):
            guard rawPath.hasSuffix("/") else {
                var location = String(rawPath) + "/"
                if let query = request.rawQuery { location += "?" + query }
                return Response(status: .movedPermanently, headerFields: [.location: location], body: .init(string: "Moved to \(location)\n"))
            }
            if case .file(let handle, let info, let index) = try await find(path + "/index.html") {
                return try await serveFile(handle, info, path: index, request: request)
            }
            guard options.listing else { return try await notFound(request) }
            let entries = try await DirectoryListing.read(path, root: root, options: options)
            return DirectoryListing.response(entries, path: String(rawPath), request: request)
        case .file(let handle, let info, let path):
            guard !rawPath.hasSuffix("/") || segments.isEmpty else {  // `/file.txt/` names no file
                try? handle.close()
                return try await notFound(request)
            }
            return try await serveFile(handle, info, path: path, request: request)
        }
    }

    // MARK: - Files

    private func find(_ candidate: String) async throws -> Found {
        let root = self.root
        let follow = options.followSymlinks
        return try await NIOThreadPool.singleton.runIfActive { () -> Found in
            guard let real = PathResolution.realPath(candidate, root: root, followSymlinks: follow),
                let info = PathResolution.info(real)
            else { return .missing }
            if info.isDirectory { return .directory(path: real) }
            guard info.isRegularFile, let handle = try? NIOFileHandle(_deprecatedPath: real) else { return .missing }
            return .file(handle, info, path: real)
        }
    }

    private func serveFile(_ handle: NIOFileHandle, _ info: FileInfo, path: String, request: Request) async throws -> Response {
        let type = MediaTypes.type(forName: path)
        let compressible = options.gzip && MediaTypes.isCompressible(type) && info.size >= options.gzipMinimumSize
        let rangeRequested = request.method == .get && request.headerFields[.range] != nil
        var fields = HTTPFields()
        fields[.contentType] = type
        fields[.acceptRanges] = "bytes"
        if let cacheControl = options.cacheControl { fields[.cacheControl] = cacheControl }
        if compressible { fields[.vary] = "Accept-Encoding" }

        // Choose the representation first: its validators are the ones conditions are checked against.
        // Never compress a Range answer (the ranges refer to the identity bytes).
        if compressible && !rangeRequested && ContentNegotiation.acceptsGzip(request.headerFields) {
            if case .file(let gz, let gzInfo, _) = try await find(path + ".gz") {
                try? handle.close()
                var gzFields = fields
                gzFields[.contentEncoding] = "gzip"
                return respond(gzInfo.validators.variant("gz"), fields: gzFields, request: request, handle: gz,
                               size: gzInfo.size, allowRanges: false) { FilePartsProducer(handle: gz, parts: [.file(0..<gzInfo.size)]) }
            }
            var gzFields = fields
            gzFields[.contentEncoding] = "gzip"
            let weak = Validators(etag: "W/" + info.validators.variant("gzip").etag, lastModified: info.mtimeSeconds)
            return respondCompressed(weak, fields: gzFields, request: request, handle: handle, size: info.size)
        }
        return respond(info.validators, fields: fields, request: request, handle: handle, size: info.size, allowRanges: true) {
            FilePartsProducer(handle: handle, parts: [.file(0..<info.size)])
        }
    }

    private func respond(
        _ validators: Validators, fields: HTTPFields, request: Request, handle: NIOFileHandle, size: Int,
        allowRanges: Bool, whole: () -> FilePartsProducer
    ) -> Response {
        var fields = fields
        fields[.eTag] = validators.etag
        fields[.lastModified] = HTTPDate.format(validators.lastModified)
        let condition = validators.evaluate(request.headerFields, method: request.method)
        switch condition {
        case .notModified:
            try? handle.close()
            return Response(status: .notModified, headerFields: fields)
        case .failed:
            try? handle.close()
            return Response(status: .preconditionFailed, headerFields: fields)
        case .proceed, .proceedIgnoringRange:
            break
        }
        let rangeHeader = condition == .proceed && allowRanges && request.method == .get ? request.headerFields[.range] : nil
        switch ByteRanges.resolve(rangeHeader, length: size, maxRanges: options.maxRanges) {
        case .whole:
            return Response(headerFields: fields, body: ResponseBody(producer: whole(), length: size))
        case .unsatisfiable:
            try? handle.close()
            fields[.contentRange] = "bytes */\(size)"
            return Response(status: .rangeNotSatisfiable, headerFields: fields)
        case .ranges(let ranges) where ranges.count == 1:
            let r = ranges[0]
            fields[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"
            return Response(status: .partialContent, headerFields: fields,
                            body: ResponseBody(producer: FilePartsProducer(handle: handle, parts: [.file(r)]), length: r.count))
        case .ranges(let ranges):
            let boundary = "httpchat-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let type = fields[.contentType] ?? "application/octet-stream"
            var parts: [FilePartsProducer.Part] = []
            var length = 0
            for (i, r) in ranges.enumerated() {
                let head = (i == 0 ? "" : "\r\n") + "--\(boundary)\r\nContent-Type: \(type)\r\n"
                    + "Content-Range: bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)\r\n\r\n"
                parts.append(.bytes(ByteBuffer(string: head)))
                parts.append(.file(r))
                length += head.utf8.count + r.count
            }
            let tail = "\r\n--\(boundary)--\r\n"
            parts.append(.bytes(ByteBuffer(string: tail)))
            length += tail.utf8.count
            fields[.contentType] = "multipart/byteranges; boundary=\(boundary)"
            return Response(status: .partialContent, headerFields: fields,
                            body: ResponseBody(producer: FilePartsProducer(handle: handle, parts: parts), length: length))
        }
    }

    private func respondCompressed(_ validators: Validators, fields: HTTPFields, request: Request, handle: NIOFileHandle, size: Int) -> Response {
        var fields = fields
        fields[.eTag] = validators.etag
        fields[.lastModified] = HTTPDate.format(validators.lastModified)
        switch validators.evaluate(request.headerFields, method: request.method) {
        case .notModified:
            try? handle.close()
            return Response(status: .notModified, headerFields: fields)
        case .failed:
            try? handle.close()
            return Response(status: .preconditionFailed, headerFields: fields)
        case .proceed, .proceedIgnoringRange:
            let producer = GzipProducer(FileReadProducer(handle: handle, range: 0..<size), level: options.gzipLevel)
            return Response(headerFields: fields, body: ResponseBody(producer: producer, length: nil))
        }
    }

    // MARK: - Not found

    private func notFound(_ request: Request) async throws -> Response {
        if let spa = options.spaFallback, ContentNegotiation.acceptsHTML(request.headerFields),
            case .file(let handle, let info, let path) = try await find(root + "/" + spa)
        {
            var plain = request
            plain.headerFields[.range] = nil
            return try await serveFile(handle, info, path: path, request: plain)
        }
        if options.notFoundPage, case .file(let handle, let info, _) = try await find(root + "/404.html") {
            return Response(status: .notFound, headerFields: [.contentType: "text/html; charset=utf-8"],
                            body: ResponseBody(producer: FilePartsProducer(handle: handle, parts: [.file(0..<info.size)]), length: info.size))
        }
        throw HTTPError(.notFound)
    }
}

/// Why a file server could not be made.
public enum FileServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The root does not exist or is not a folder.
    case rootNotADirectory(String)

    /// A message for people.
    public var description: String {
        switch self {
        case .rootNotADirectory(let path): return "\(path) is not a directory"
        }
    }
}
