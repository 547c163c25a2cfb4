import HTTPChatCore
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
    /// Folder downloads: `GET /folder/?download=zip` answers a store-only ZIP archive of the folder and
    /// everything below it that would be served (hidden names only with ``hidden``; links and excluded folders
    /// as the provider decides), with an exact `Content-Length`, ranges and `If-Range`, in constant memory;
    /// listings show a link to it. A folder with an `index.html` can be downloaded too (its names are no
    /// secret once listings are on: the parent's archive holds them anyway). Default on; only in effect with ``listing`` (an archive shows names as a
    /// listing does). Off, `?download=zip` is an ordinary request: the listing, `index.html`, or 404.
    public var archive = true
    /// The most files and folders one archive may hold (default 100,000): planning a larger tree stops there
    /// and answers 403; so does a single folder of more than twice as many names (hidden ones included), read
    /// no further. Planning costs one ``FileProvider/list(_:limit:)`` per folder, off the event loops, and
    /// about 200 bytes per entry while the archive is sent.
    public var archiveMaxEntries = 100_000
    /// The most archives planned or sent at once (default 8): past it, `503 Service Unavailable` with
    /// `Retry-After`. Each holds its plan (about 200 bytes per entry) until its body ends; a client that
    /// goes away stops its planning between two folders and gives its slot back.
    public var archiveMaxConcurrent = 8
    /// The most entries a folder listing reads (default 100,000): a larger folder answers 403 instead of a
    /// page of millions of lines, having read no more than this many names.
    public var listingMaxEntries = 100_000
    /// The most folder listings read at once (default 32): past it, `503 Service Unavailable` with
    /// `Retry-After`.
    public var listingMaxConcurrent = 32
    /// The most responses compressed on the fly at once (default 64; each holds a zlib stream of about
    /// 256 KiB): past it, a file is sent uncompressed, which every client accepts.
    public var gzipMaxConcurrent = 64
    /// The most uploads stored at once (default 32; each holds a temporary file and up to 1 MiB of body
    /// gathered between two writes): past it, `503 Service Unavailable` with `Retry-After`, before any of the
    /// body is read.
    public var uploadMaxConcurrent = 32
    /// Serve names starting with `.` (default off: they are 404, at any depth).
    public var hidden = false
    /// Follow symlinks whose targets leave the root (default off: only links that stay inside are followed).
    /// Configures the ``LocalFileProvider`` that ``FileServer/init(root:mountPath:options:)`` makes.
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
    /// Folders (absolute, or relative to the root) whose contents are never served nor listed, whatever the
    /// spelling of the path or the links on the way: 404 as if absent (default none). `CGIFileServer` puts
    /// its scripts' folder here, so no script's source is ever sent. Configures the ``LocalFileProvider`` that
    /// ``FileServer/init(root:mountPath:options:)`` makes.
    public var excludedFolders: [String] = []
    /// Use `404.html` in the root as the body of 404 answers, when it exists (default on).
    public var notFoundPage = true
    /// More ranges than this in one Range header is ignored as abuse (default 16).
    public var maxRanges = 16
    /// How long what a path resolves to (its `stat`, an open descriptor, a small file's bytes) is reused
    /// before it is checked again: nginx's `open_file_cache_valid`. A file changed on disk is served anew
    /// after at most this long. Zero turns the cache off. Default 1 s.
    public var cacheValidity: Duration = .seconds(1)
    /// The most paths cached (default 1024).
    public var cacheEntries = 1024
    /// Files up to this size are kept in memory while cached and sent without touching the disk
    /// (default 32 KiB; with ``cacheEntries`` this bounds the cache to 32 MiB plus gzip forms).
    public var smallFileMemoryLimit = 32 * 1024
    /// Uploads into the served folder (default off; needs files on disk, a ``LocalFileProvider``):
    /// `PUT /folder/name` stores the body as `name` in an existing folder (201 Created, or 204 No Content
    /// when it replaced a file; `Location` either way), and `POST /folder/` with a `multipart/form-data` body
    /// stores each file part under its file name as ``MultipartParser/sanitizeFilename(_:)`` gives it (so
    /// never a dotfile), answering 303 See Other to the listing, or 201 with a JSON summary when the client
    /// prefers `application/json`. Plain fields are ignored; a form without a file is 400. Listings show an
    /// upload form.
    ///
    /// Each file streams to a temporary file in the target folder (a name starting with `.upload-`, never
    /// served, listed or archived, even with ``hidden``), written off the event loops and named only once
    /// complete: a cut-off, timed-out or over-large upload (``/HTTPChatCore/HTTPLimits/maxBodyBytes``: 413) leaves nothing
    /// behind. The folder must exist inside the root and is reached by the same walk as for serving, except
    /// that links are never followed out of the root (whatever ``followSymlinks`` says); folders are never
    /// created; excluded folders (`cgi-bin`) are 404. Names must be at most 255 bytes, without `/`, `\`,
    /// controls or format (bidi) characters, not `.`, `..` or a dotfile (unless ``hidden``): else 400 (403
    /// for a hidden path). In a multipart form, each file is stored when its part ends; a later failure leaves
    /// the earlier ones in place. A file is `fsync`ed before it is named and its folder after, so a power loss
    /// never leaves an empty file under the name. Temporary files older than an hour (a server killed
    /// mid-upload leaves them) are removed in the background when the file server is made.
    ///
    /// A `PUT`'s `If-Match`, `If-None-Match` and `If-Unmodified-Since` are evaluated against the file it would
    /// replace (412 Precondition Failed), again just before the rename; a `PUT` with `Content-Range` is 400.
    public var uploads = false
    /// Let uploads replace existing files (default off: an existing name is 409 Conflict). The replacement is
    /// an atomic rename: readers see the old file or the new one, never a mix. A folder is never replaced.
    /// Without it, two uploads racing to one new name cannot both win: the name is given by `link`, which
    /// fails when the name exists, and the later upload answers 409.
    public var overwrite = false
    /// Text inserted into every HTML file served (`httpserve --live-reload`'s script): before the last
    /// `</body>`, or at the end without one. See ``FileServer`` (`serveInjected`) for what changes with it:
    /// such files are always sent identity-encoded (no gzip, no precompressed sibling), whole (no ranges),
    /// under their own ETag. Not for folder listings, archives or anything that is not a file's bytes.
    package var htmlSnippet: String?

    /// The defaults.
    public init() {}
}

/// Serves files under a root folder: safe paths, content types, validators and conditional requests, byte
/// ranges, directory listings, gzip (precompressed `NAME.gz` when present, else on the fly), sendfile for
/// everything sent uncompressed. No file I/O happens on an event loop: what paths resolve to is cached
/// (``FileServerOptions/cacheValidity``), a request whose lookups are all cached is answered on the event
/// loop at once, and the others resolve on NIO's thread pool.
///
/// Files come from a ``FileProvider``: a folder on disk (``LocalFileProvider``) for `init(root:)`, or any
/// other, such as ``InMemoryFileProvider`` in tests, for `init(provider:)`.
///
/// ```swift
/// let files = try FileServer(root: "./public")
/// let server = try await HTTPServer.start(configuration: config, responder: files)
/// // or mounted on a router:
/// let assets = try FileServer(root: "./assets", mountPath: "/assets")
/// router.get("/assets/**") { try await assets.respond(to: $0) }
/// ```
public struct FileServer: ImmediateHTTPResponder {
    /// The root's real path (the provider's ``FileProvider/root``).
    public let root: String
    /// Where the files come from.
    public let provider: any FileProvider
    /// The URL path the root is served at (`/` by default).
    public let mountPath: String
    /// The mount path's canonical segments (``Request/pathSegments``), which a request's must start with.
    let mountSegments: [String]
    /// The options.
    public let options: FileServerOptions
    let cache: OpenFileCache
    /// Where uploads are stored: files on disk only (``FileServerOptions/uploads``).
    let uploadStore: UploadStore?
    /// CRC-32s of files sent in archives, kept for resumed downloads (``ZipCRCCache``).
    let archiveCRCs = ZipCRCCache()
    /// Archives being planned or sent (``FileServerOptions/archiveMaxConcurrent``).
    let archiveSlots: WorkSlots
    /// Folder listings being read (``FileServerOptions/listingMaxConcurrent``).
    let listingSlots: WorkSlots
    /// Responses being compressed on the fly (``FileServerOptions/gzipMaxConcurrent``).
    let gzipSlots: WorkSlots
    /// Uploads being stored (``FileServerOptions/uploadMaxConcurrent``).
    let uploadSlots: WorkSlots

    /// Creates a file server for a folder on disk (a ``LocalFileProvider`` with the options'
    /// ``FileServerOptions/followSymlinks`` and ``FileServerOptions/excludedFolders``).
    ///
    /// - Parameters:
    ///   - root: the folder to serve.
    ///   - mountPath: the URL prefix it is served under (default `/`).
    ///   - options: the options.
    /// - Throws: ``FileServerError/rootNotADirectory(_:)`` when `root` is not an existing folder.
    public init(root: String, mountPath: String = "/", options: FileServerOptions = FileServerOptions()) throws {
        let provider = try LocalFileProvider(root: root, followSymlinks: options.followSymlinks, excludedFolders: options.excludedFolders)
        self.init(provider: provider, mountPath: mountPath, options: options)
    }

    /// Creates a file server for the files a provider holds.
    ///
    /// ```swift
    /// let files = FileServer(provider: InMemoryFileProvider(files: ["a.txt": ByteBuffer(string: "a")]))
    /// ```
    ///
    /// - Parameters:
    ///   - provider: where the files are; it applies its own root check (``FileServerOptions/followSymlinks``
    ///     and ``FileServerOptions/excludedFolders`` configure only the provider `init(root:)` makes).
    ///   - mountPath: the URL prefix it is served under (default `/`).
    ///   - options: the options.
    public init(provider: some FileProvider, mountPath: String = "/", options: FileServerOptions = FileServerOptions()) {
        self.root = provider.root
        self.provider = provider
        self.mountPath = mountPath.hasSuffix("/") ? String(mountPath.dropLast()) : mountPath
        self.mountSegments = (try? CanonicalPath.segments(Substring(mountPath))) ?? []
        self.options = options
        self.cache = OpenFileCache(provider: provider, options: options)
        self.archiveSlots = WorkSlots(capacity: options.archiveMaxConcurrent, returnsMemoryWhenIdle: true)
        self.listingSlots = WorkSlots(capacity: options.listingMaxConcurrent)
        self.gzipSlots = WorkSlots(capacity: options.gzipMaxConcurrent)
        self.uploadSlots = WorkSlots(capacity: options.uploadMaxConcurrent)
        if let local = provider as? LocalFileProvider {
            let store = UploadStore(root: local.root, excluded: local.excludedFolders)
            self.uploadStore = store
            // Temporaries a killed server left behind go once, in the background, when uploads start: only
            // those older than UploadStore.staleTemporaryAge (an hour), so another server's are left alone.
            if options.uploads { store.startSweep() }
        } else {
            self.uploadStore = nil
        }
    }

    /// One step of building an answer: done, or a path that must be resolved (or a folder listed) first.
    /// Paths are below the root, `/`-separated, empty for the root (the cache's keys).
    enum Step {
        case done(Response)
        case needs(String)
        case listing(String)
        /// The folder's ZIP archive (`?download=zip`).
        case archive(String)
    }

    /// Finds a path: returns what it is, or nil when it is not known yet.
    typealias Lookup = (String) -> CachedLookup?

    /// Answers from the cache on the event loop, when every lookup the request needs is cached.
    ///
    /// - Parameter request: the request.
    /// - Returns: the response, or nil to resolve on the thread pool through ``respond(to:)``.
    /// - Throws: ``HTTPError`` 400, 404, 405.
    public func respondImmediately(to request: Request) throws -> Response? {
        if isUpload(request) { return nil }  // file I/O and a body to read: in a task
        let now = NIODeadline.now()
        if case .done(let response) = try build(request, lookup: { cache.cached($0, now: now) }) { return response }
        return nil
    }

    /// Answers GET and HEAD for files under the root, and POST and PUT with ``FileServerOptions/uploads``.
    ///
    /// - Parameter request: the request.
    /// - Returns: 200, 206, 301, 304, 404 (or `404.html`), 405, 412 or 416 as the request calls for; for
    ///   uploads, 201, 204 or 303 (see ``FileServerOptions/uploads``).
    /// - Throws: ``HTTPError`` 400 for hostile paths, 404, 405 (with `Allow`); for uploads, 400, 403, 404,
    ///   409, 413, 415, 507.
    public func respond(to request: Request) async throws -> Response {
        if isUpload(request) { return try await upload(request) }
        var resolved: [String: CachedLookup] = [:]  // what this request resolved, whatever the cache evicts
        let lookup: Lookup = { path in resolved[path] ?? cache.cached(path) }
        for _ in 0..<10 {  // a request needs at most a few lookups (file, index, .br/.zst/.gz, SPA, 404 page)
            switch try build(request, lookup: lookup) {
            case .done(let response):
                return response
            case .needs(let path):
                resolved[path] = try await cache.resolve(path)
            case .listing(let path):
                guard let slot = listingSlots.take() else {
                    throw HTTPError(.serviceUnavailable, "Too many folder listings at once: try again shortly.", headerFields: [.retryAfter: "1"])
                }
                let limit = options.listingMaxEntries
                let listed = try await provider.list(OpenFileCache.components(path), limit: limit)
                guard let found = listed else { throw HTTPError(.notFound) }
                guard found.count <= limit else {
                    throw HTTPError(.forbidden, "This folder holds more than \(limit) files and folders: too many to list.")
                }
                try Task.checkCancellation()
                let entries = found.filter { Self.isServed($0.name, hidden: options.hidden) }.map(DirectoryListing.Entry.init)
                let segments = (try? request.pathSegments) ?? []
                let page = DirectoryListing.response(
                    entries, segments: segments, mountDepth: mountSegments.count, request: request, archive: archives,
                    upload: uploads
                )
                withExtendedLifetime(slot) {}  // held while the page is made
                return page
            case .archive(let path):
                return try await archiveResponse(folder: path, request: request)
            }
        }
        throw HTTPError(.internalServerError)
    }

    // MARK: - Building the answer

    private func build(_ request: Request, lookup: Lookup) throws -> Step {
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, headerFields: [.allow: allowedMethods])
        }
        let rawPath = request.rawPath
        let candidate: String
        let atRoot: Bool
        if let known = cache.candidate(forRaw: rawPath) {
            candidate = known
            atRoot = known.isEmpty
        } else {
            let segments: [String]
            do {
                segments = try PathResolution.segments(rawPath, hidden: options.hidden)
            } catch .badRequest {
                throw HTTPError(.badRequest, "bad path")
            } catch {
                return try notFound(request, lookup)
            }
            // The mount point is matched on the same canonical segments as the rest (not on the raw string).
            guard segments.starts(with: mountSegments) else { return try notFound(request, lookup) }
            let below = segments.dropFirst(mountSegments.count)
            candidate = below.joined(separator: "/")
            atRoot = below.isEmpty
            cache.remember(raw: rawPath, candidate: candidate)
        }
        guard let found = lookup(candidate) else { return .needs(candidate) }
        switch found {
        case .missing:
            return try notFound(request, lookup)
        case .forbidden:
            throw HTTPError(.forbidden)
        case .directory(let path):
            guard CanonicalPath.hasTrailingSlash(rawPath) else {
                // Built from the canonical segments: one leading slash, so `GET //evil.example` (a folder
                // named evil.example) redirects to `/evil.example/`, never to the protocol-relative
                // `//evil.example/` a browser would follow off-site (CVE-2021-28861's shape).
                var location = CanonicalPath.encoded(try request.pathSegments, trailingSlash: true)
                if let query = request.rawQuery { location += "?" + query }
                return .done(Response(
                    status: .movedPermanently, headerFields: [.location: location, .contentType: "text/plain; charset=utf-8"],
                    body: .init(string: "Moved to \(location)\n")
                ))
            }
            if archives && request.query("download") == "zip" { return .archive(path) }
            let indexPath = Self.child(path, "index.html")
            guard let index = lookup(indexPath) else { return .needs(indexPath) }
            if case .file(let f) = index { return serve(f, request: request, lookup: lookup) }
            guard options.listing else { return try notFound(request, lookup) }
            return .listing(path)
        case .file(let f):
            guard !CanonicalPath.hasTrailingSlash(rawPath) || atRoot else {  // `/file.txt/` names no file
                return try notFound(request, lookup)
            }
            return serve(f, request: request, lookup: lookup)
        }
    }

    /// Answers with a file.
    private func serve(_ f: SharedFile, request: Request, lookup: Lookup) -> Step {
        if let snippet = options.htmlSnippet, let injected = serveInjected(f, snippet: snippet, request: request) {
            return .done(injected)
        }
        let info = f.info
        let compressible = f.compressible
        let rangeRequested = request.method == .get && request.headerFields[.range] != nil
        var fields = f.baseFields

        // Choose the representation first: its validators are the ones conditions are checked against.
        // A precompressed sibling (NAME.br, NAME.zst, NAME.gz) in the client's order of preference is a file
        // like any other: ranges apply to its bytes, under its own ETag. It is served whatever the file's size
        // and type (as nginx's gzip_static): the site's owner made it, so it is wanted even where on-the-fly
        // gzip would not bother. On-the-fly gzip never answers a Range (the ranges would refer to bytes that do
        // not exist yet).
        let encodings = options.gzip ? ContentNegotiation.acceptedEncodings(request.headerFields) : []
        for coding in encodings {
            let suffix = Self.siblingSuffix[coding]!
            let siblingPath = f.path + suffix
            guard let sibling = lookup(siblingPath) else { return .needs(siblingPath) }
            if case .file(let precompressed) = sibling {
                fields[.contentEncoding] = coding
                fields[.vary] = "Accept-Encoding"
                return .done(respond(precompressed, precompressed.validators.variant(String(suffix.dropFirst())), fields: fields, request: request, allowRanges: true))
            }
        }
        if compressible && !rangeRequested && encodings.contains("gzip") {
            let weak = Validators(etag: "W/" + f.validators.variant("gzip").etag, lastModified: info.mtimeSeconds)
            if let gzipped = f.gzipped(level: options.gzipLevel) {  // in memory: compressed once, kept
                fields[.contentEncoding] = "gzip"
                return .done(respond(bytes: gzipped, weak, fields: fields, request: request, allowRanges: false))
            }
            // Compressing a file costs a zlib stream and pool time for as long as it is sent: past the cap the
            // file goes uncompressed (identity is always acceptable), with its own validators below.
            if let slot = gzipSlots.take() {
                fields[.contentEncoding] = "gzip"
                return .done(respondStreamingGzip(f, weak, fields: fields, request: request, slot: slot))
            }
        }
        return .done(respond(f, f.validators, fields: fields, request: request, allowRanges: true))
    }

    /// Answers with a cached file's bytes or descriptor (the producer holds the descriptor while it sends).
    private func respond(_ f: SharedFile, _ validators: Validators, fields: HTTPFields, request: Request, allowRanges: Bool) -> Response {
        switch f.contents {
        case .bytes(let bytes):
            return respond(bytes: bytes, validators, fields: fields, request: request, allowRanges: allowRanges)
        case .descriptor(let file):
            return respond(
                size: f.info.size, validators, fields: fields, request: request, allowRanges: allowRanges,
                body: { parts, length in ResponseBody(producer: FilePartsProducer(file: file, parts: parts), length: length) }
            )
        }
    }

    private func respond(bytes: ByteBuffer, _ validators: Validators, fields: HTTPFields, request: Request, allowRanges: Bool) -> Response {
        respond(
            size: bytes.readableBytes, validators, fields: fields, request: request, allowRanges: allowRanges,
            body: { parts, length in
                var out = ByteBuffer()
                out.reserveCapacity(length)
                for part in parts {
                    switch part {
                    case .bytes(var b): out.writeBuffer(&b)
                    case .file(let r):
                        if parts.count == 1 { return ResponseBody(bytes: bytes.getSlice(at: bytes.readerIndex + r.lowerBound, length: r.count)!) }
                        var slice = bytes.getSlice(at: bytes.readerIndex + r.lowerBound, length: r.count)!
                        out.writeBuffer(&slice)
                    }
                }
                return ResponseBody(bytes: out)
            }
        )
    }

    /// Validators, conditions and ranges for a representation of `size` bytes; `body` makes the body from
    /// parts (file ranges and literal bytes), and is not called when no body is sent.
    func respond(
        size: Int, _ validators: Validators, fields: HTTPFields, request: Request, allowRanges: Bool,
        body: ([FilePartsProducer.Part], Int) -> ResponseBody
    ) -> Response {
        var fields = fields
        if fields[.eTag] != validators.etag {  // a variant (gzip); the identity fields are precomputed
            fields[.eTag] = validators.etag
            fields[.lastModified] = HTTPDate.format(validators.lastModified)
        }
        let condition = validators.evaluate(request.headerFields, method: request.method)
        switch condition {
        case .notModified:
            return Response(status: .notModified, headerFields: fields)
        case .failed:
            return Response(status: .preconditionFailed, headerFields: fields)
        case .proceed, .proceedIgnoringRange:
            break
        }
        let rangeHeader = condition == .proceed && allowRanges && request.method == .get ? request.headerFields[.range] : nil
        switch ByteRanges.resolve(rangeHeader, length: size, maxRanges: options.maxRanges) {
        case .whole:
            return Response(headerFields: fields, body: body([.file(0..<size)], size))
        case .unsatisfiable:
            fields[.contentRange] = "bytes */\(size)"
            fields[.contentType] = nil  // no body: the file's type would describe nothing
            fields[.contentEncoding] = nil
            return Response(status: .rangeNotSatisfiable, headerFields: fields)
        case .ranges(let ranges) where ranges.count == 1:
            let r = ranges[0]
            fields[.contentRange] = ByteRanges.contentRange(r, completeLength: size)
            return Response(status: .partialContent, headerFields: fields, body: body([.file(r)], r.count))
        case .ranges(let ranges):
            let multipart = ByteRanges.Multipart(ranges: ranges, completeLength: size, partType: fields[.contentType] ?? "application/octet-stream")
            let parts = multipart.pieces.map { piece -> FilePartsProducer.Part in
                switch piece {
                case .text(let text): return .bytes(ByteBuffer(string: text))
                case .slice(let r): return .file(r)
                }
            }
            fields[.contentType] = multipart.contentType
            return Response(status: .partialContent, headerFields: fields, body: body(parts, multipart.length))
        }
    }

    /// A large compressible file compressed as it is read: same conditions, never ranges, unknown length.
    private func respondStreamingGzip(
        _ f: SharedFile, _ validators: Validators, fields: HTTPFields, request: Request, slot: WorkSlots.Slot
    ) -> Response {
        respond(
            size: f.info.size, validators, fields: fields, request: request, allowRanges: false,
            body: { _, _ in
                switch f.contents {
                case .bytes(let bytes):  // not reached: bytes in memory are compressed once (`gzipped`)
                    return ResponseBody(producer: GzipProducer(BufferProducer(bytes), level: options.gzipLevel), length: nil)
                case .descriptor(let file):
                    // Compressed off the loop, a slice per pool job (FileGzipProducer says why).
                    let producer = FileGzipProducer(file: file, range: 0..<f.info.size, level: options.gzipLevel, slot: slot)
                    return ResponseBody(producer: producer, length: nil)
                }
            }
        )
    }

    // MARK: - Not found

    private func notFound(_ request: Request, _ lookup: Lookup) throws -> Step {
        if let spa = options.spaFallback, ContentNegotiation.acceptsHTML(request.headerFields) {
            let path = CanonicalPath.split(Substring(spa)).joined(separator: "/")
            guard let found = lookup(path) else { return .needs(path) }
            if case .file(let f) = found {
                var plain = request
                plain.headerFields[.range] = nil
                return serve(f, request: plain, lookup: lookup)
            }
        }
        if options.notFoundPage {
            let path = "404.html"
            guard let found = lookup(path) else { return .needs(path) }
            if case .file(let f) = found {
                if let snippet = options.htmlSnippet, f.info.size <= Self.injectionLimit, let bytes = f.bytes {
                    let page = Self.inject(snippet, into: bytes)
                    return .done(Response(status: .notFound, headerFields: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(bytes: page)))
                }
                let body: ResponseBody
                switch f.contents {
                case .bytes(let bytes): body = ResponseBody(bytes: bytes)
                case .descriptor(let file): body = ResponseBody(producer: FilePartsProducer(file: file, parts: [.file(0..<f.info.size)]), length: f.info.size)
                }
                return .done(Response(status: .notFound, headerFields: [.contentType: "text/html; charset=utf-8"], body: body))
            }
        }
        throw HTTPError(.notFound)
    }
}

extension FileServer {
    /// The file suffix of each precompressed encoding (`zstd`'s files end in `.zst`).
    static let siblingSuffix = ["br": ".br", "zstd": ".zst", "gzip": ".gz"]

    /// Whether a folder entry named `name` is served and listed: not hidden (unless `hidden`), never an
    /// upload's temporary file.
    static func isServed(_ name: String, hidden: Bool) -> Bool {
        (hidden || !CanonicalPath.isHidden(name)) && !UploadStore.isTemporary(name)
    }

    /// The path of `name` in the folder at `path` (both below the root; empty for the root).
    static func child(_ path: String, _ name: String) -> String {
        path.isEmpty ? name : path + "/" + name
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
