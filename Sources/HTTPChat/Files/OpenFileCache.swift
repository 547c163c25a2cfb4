import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file shared by the cache and the responses sending it: closed when the last holder lets go.
final class SharedFile: Sendable {
    let handle: NIOFileHandle
    let info: FileInfo
    let path: String
    /// The whole file, for files small enough to keep in memory (sent without touching the descriptor).
    let contents: ByteBuffer?
    /// Worked out once per entry rather than per request: the validators and whether gzip applies.
    let validators: Validators
    let compressible: Bool
    /// The fields every answer with this file carries: type, Accept-Ranges, ETag, Last-Modified, and
    /// Vary / Cache-Control as the server's options say.
    let baseFields: HTTPFields
    private let state = NIOLockedValueBox<(holders: Int, gzipped: ByteBuffer?)>((1, nil))

    init(handle: NIOFileHandle, info: FileInfo, path: String, contents: ByteBuffer?, options: FileServerOptions) {
        self.handle = handle
        self.info = info
        self.path = path
        self.contents = contents
        let type = MediaTypes.type(forName: path)
        validators = info.validators
        compressible = options.gzip && MediaTypes.isCompressible(type) && info.size >= options.gzipMinimumSize
        var fields = HTTPFields()
        fields[.contentType] = type
        fields[.acceptRanges] = "bytes"
        if let cacheControl = options.cacheControl { fields[.cacheControl] = cacheControl }
        if compressible { fields[.vary] = "Accept-Encoding" }
        fields[.eTag] = validators.etag
        fields[.lastModified] = HTTPDate.format(validators.lastModified)
        baseFields = fields
    }

    /// One more holder (a response about to send the file).
    func retain() { state.withLockedValue { $0.holders += 1 } }

    /// One holder less; the descriptor closes with the last.
    func release() {
        let last = state.withLockedValue { s -> Bool in
            s.holders -= 1
            return s.holders == 0
        }
        if last { try? handle.close() }
    }

    deinit {
        // A backstop: every path releases its hold, but a descriptor must never outlive its owner.
        if state.withLockedValue({ $0.holders }) > 0 { try? handle.close() }
    }

    /// The gzip form of `contents`, compressed once and kept.
    func gzipped(level: Int32) -> ByteBuffer? {
        guard let contents else { return nil }
        if let done = state.withLockedValue({ $0.gzipped }) { return done }
        var out = ByteBuffer()
        Deflater(level: level).compress(contents, finish: true, into: &out)
        state.withLockedValue { $0.gzipped = out }
        return out
    }
}

/// What a path is, as the cache knows it.
enum CachedLookup: Sendable {
    case file(SharedFile)
    case directory(path: String)
    case missing
}

/// nginx's `open_file_cache`, for a server that must never block its event loops: what paths resolve to
/// (symlink policy applied), their `stat`, an open descriptor, and the bytes of small files, each valid for a
/// short time. Lookups on the event loop are a dictionary read; misses and expired entries are resolved on
/// NIO's thread pool. A file changed on disk is seen once its entry expires (``FileServerOptions/cacheValidity``).
final class OpenFileCache: Sendable {
    private struct Entry {
        let lookup: CachedLookup
        let expires: NIODeadline
    }

    private let entries = NIOLockedValueBox<(map: [String: Entry], order: [String])>(([:], []))
    /// Raw request paths already checked and turned into candidate paths (a pure function of the string).
    private let candidates = NIOLockedValueBox<[Substring: String]>([:])
    private let options: FileServerOptions
    private let validity: Duration
    private let maxEntries: Int
    private let smallFileLimit: Int
    private let root: String
    /// Opens what a path names without ever leaving the root (see ``RootedOpener``).
    let opener: RootedOpener

    deinit {
        let held = entries.withLockedValue { e in e.map.values.map(\.lookup) }
        for case .file(let f) in held { f.release() }
    }

    init(root: String, excluded: [String], options: FileServerOptions) {
        self.options = options
        self.root = root
        self.opener = RootedOpener(root: root, followSymlinks: options.followSymlinks, excluded: excluded)
        self.validity = options.cacheValidity
        self.maxEntries = options.cacheEntries
        self.smallFileLimit = options.smallFileMemoryLimit
    }

    /// The candidate path for a raw request path seen before.
    func candidate(forRaw raw: Substring) -> String? {
        candidates.withLockedValue { $0[raw] }
    }

    /// Remembers the candidate path for a raw request path (bounded like the entries).
    func remember(raw: Substring, candidate: String) {
        candidates.withLockedValue { map in
            if map.count >= maxEntries { map.removeAll(keepingCapacity: true) }
            map[raw] = candidate
        }
    }

    /// The cached lookup for `path` when it is still valid, retained for the caller when it is a file.
    func cached(_ path: String, now: NIODeadline = .now()) -> CachedLookup? {
        guard validity > .zero else { return nil }
        let hit = entries.withLockedValue { e -> CachedLookup? in
            guard let entry = e.map[path], entry.expires > now else { return nil }
            if case .file(let f) = entry.lookup { f.retain() }
            return entry.lookup
        }
        return hit
    }

    /// Resolves `path` (the root, or a path below it that ``FileServer`` built from the request) on the thread
    /// pool and caches the answer, retained for the caller when it is a file. The file is opened by the same
    /// walk that checks it (``RootedOpener``): nothing can be swapped in between.
    func resolve(_ path: String) async throws -> CachedLookup {
        let components = PathResolution.components(of: path, below: root)
        let opener = self.opener
        let small = smallFileLimit
        let options = self.options
        let lookup = try await NIOThreadPool.singleton.runIfActive { () -> CachedLookup in
            switch opener.open(components) {
            case .missing:
                return .missing
            case .directory(let fd, _):
                close(fd)  // listings open it again from the root, through the same walk
                return .directory(path: path)
            case .file(let fd, let st):
                let info = FileInfo(st)
                let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
                var contents: ByteBuffer?
                if info.size <= small {
                    var bytes = ByteBuffer()
                    let ok = (try? bytes.writePositionalRead(fd: fd, offset: 0, count: info.size)) != nil
                    contents = ok && bytes.readableBytes == info.size ? bytes : nil
                }
                return .file(SharedFile(handle: handle, info: info, path: path, contents: contents, options: options))
            }
        }
        if case .file(let f) = lookup { f.retain() }  // the caller's hold; the cache keeps the first
        store(path, lookup)
        return lookup
    }

    private func store(_ path: String, _ lookup: CachedLookup) {
        guard validity > .zero else {
            if case .file(let f) = lookup { f.release() }  // no cache: only the caller holds it
            return
        }
        let evicted = entries.withLockedValue { e -> [CachedLookup] in
            var gone: [CachedLookup] = []
            if let old = e.map[path] { gone.append(old.lookup) } else { e.order.append(path) }
            e.map[path] = Entry(lookup: lookup, expires: .now() + validity)
            while e.map.count > maxEntries, !e.order.isEmpty {
                let oldest = e.order.removeFirst()
                if let old = e.map.removeValue(forKey: oldest) { gone.append(old.lookup) }
            }
            return gone
        }
        for case .file(let f) in evicted { f.release() }
    }
}
