import HTTPChatCore
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore

/// A file the cache found, shared by the cache and the responses sending it. Its descriptor (when it is
/// sent from one) is an ``OpenFile``: it closes when the last of them lets go, by ARC, not by counting.
final class SharedFile: Sendable {
    /// What `stat` said when it was opened.
    let info: FileInfo
    /// Its path below the root (`/`-separated; empty for the root), the cache's key.
    let path: String
    /// The bytes (small files, or a provider that keeps them in memory) or the open descriptor.
    let contents: FileContents
    /// Worked out once per entry rather than per request: the validators and whether gzip applies.
    let validators: Validators
    let compressible: Bool
    /// The fields every answer with this file carries: type, Accept-Ranges, ETag, Last-Modified, and
    /// Vary / Cache-Control as the server's options say.
    let baseFields: HTTPFields
    private let gzippedBytes = NIOLockedValueBox<ByteBuffer?>(nil)

    init(_ file: ProvidedFile, path: String, options: FileServerOptions) {
        self.info = file.info
        self.path = path
        self.contents = file.contents
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

    /// The whole file, when it is in memory.
    var bytes: ByteBuffer? {
        if case .bytes(let b) = contents { return b }
        return nil
    }

    /// The gzip form of ``bytes``, compressed once and kept.
    func gzipped(level: Int32) -> ByteBuffer? {
        guard let bytes else { return nil }
        if let done = gzippedBytes.withLockedValue({ $0 }) { return done }
        var out = ByteBuffer()
        Deflater(level: level).compress(bytes, finish: true, into: &out)
        gzippedBytes.withLockedValue { $0 = out }
        return out
    }
}

/// What a path is, as the cache knows it.
enum CachedLookup: Sendable {
    case file(SharedFile)
    case directory(path: String)
    case forbidden
    case missing
}

/// nginx's `open_file_cache`, for a server that must never block its event loops: what paths resolve to
/// (through the ``FileProvider``, which applies the symlink policy), their `stat`, an open descriptor, and the
/// bytes of small files, each valid for a short time. Lookups on the event loop are a dictionary read; misses
/// and expired entries are resolved by the provider (on NIO's thread pool, for files on disk). A file changed
/// on disk is seen once its entry expires (``FileServerOptions/cacheValidity``). An entry holds its file;
/// evicting it lets go, and the descriptor closes once no response still sending it holds it.
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
    /// Where the files are.
    let provider: any FileProvider

    init(provider: any FileProvider, options: FileServerOptions) {
        self.options = options
        self.provider = provider
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

    /// The cached lookup for `path` when it is still valid.
    func cached(_ path: String, now: NIODeadline = .now()) -> CachedLookup? {
        guard validity > .zero else { return nil }
        return entries.withLockedValue { e -> CachedLookup? in
            guard let entry = e.map[path], entry.expires > now else { return nil }
            return entry.lookup
        }
    }

    /// Resolves `path` (below the root, `/`-separated, as ``FileServer`` builds it from the request) through
    /// the provider and caches the answer. The file is opened by the same walk that checks it: nothing can be
    /// swapped in between.
    func resolve(_ path: String) async throws -> CachedLookup {
        let lookup: CachedLookup
        switch try await provider.open(Self.components(path), memoryLimit: smallFileLimit) {
        case .missing: lookup = .missing
        case .forbidden: lookup = .forbidden
        case .folder: lookup = .directory(path: path)
        case .file(let file): lookup = .file(SharedFile(file, path: path, options: options))
        }
        store(path, lookup)
        return lookup
    }

    /// Drops what `path` resolved to (a file was just stored there), so the next request looks again.
    func forget(_ path: String) {
        let gone = entries.withLockedValue { $0.map.removeValue(forKey: path) }
        withExtendedLifetime(gone) {}  // let go of here, outside the lock
    }

    /// The components of a cache path.
    static func components(_ path: String) -> [String] {
        // On `/` bytes: split on Characters, `a/\u{301}x` (a segment that starts with a combining mark, joined
        // after `a`) would stay one name holding a `/`, and `openat` would walk it past the per-name checks.
        CanonicalPath.split(Substring(path)).map(String.init)
    }

    private func store(_ path: String, _ lookup: CachedLookup) {
        guard validity > .zero else { return }
        // What is evicted is let go of after the lock: a descriptor may close then, if nothing else holds it.
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
        withExtendedLifetime(evicted) {}  // let go of here, outside the lock
    }
}
