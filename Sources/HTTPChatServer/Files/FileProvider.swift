public import NIOCore

/// Where a ``FileServer`` (and a `CGIResponder`'s script lookup) finds files: the seam between deciding
/// what a request names and the storage that holds it. ``LocalFileProvider`` (a folder on disk) is the
/// default; ``InMemoryFileProvider`` serves a dictionary, for tests.
///
/// Paths are the canonical segments below the provider's root, as ``Request/pathSegments`` gives them after
/// a mount prefix: no empty names, no `.` or `..`, no `/`. The caller has checked them (hidden names,
/// encoded separators); the provider applies the one root check: whatever the names and whatever links
/// lie on the way, nothing outside the root (or in a folder it excludes) is found.
///
/// Methods are called from tasks, never expected to return at once: a provider that touches a disk does
/// so off the event loops (``LocalFileProvider`` uses NIO's thread pool).
///
/// ```swift
/// let files = FileServer(provider: InMemoryFileProvider(files: ["index.html": ByteBuffer(string: "<h1>hi</h1>")]))
/// ```
public protocol FileProvider: Sendable {
    /// A name for the root, for messages and ``FileServer/root``: the real path for a folder on disk.
    var root: String { get }

    /// Resolves `path` and opens what it names.
    ///
    /// - Parameters:
    ///   - path: the segments below the root; empty for the root itself.
    ///   - memoryLimit: files up to this many bytes should be returned as bytes (read now, the descriptor
    ///     let go), larger ones may be returned as a descriptor.
    /// - Returns: the file with its contents, a folder, or ``FileLookup/missing`` for anything absent,
    ///   unreadable, outside the root, excluded, or neither a regular file nor a folder.
    /// - Throws: only when the provider cannot work at all (NIO's thread pool is shut down, say).
    func open(_ path: [String], memoryLimit: Int) async throws -> FileLookup

    /// What `path` names, without reading it: for running a file (a CGI script) rather than sending it.
    ///
    /// - Parameter path: the segments below the root; empty for the root itself.
    /// - Returns: the status, or nil for anything ``open(_:memoryLimit:)`` would call missing (a file that
    ///   may be run but not read is found).
    /// - Throws: as ``open(_:memoryLimit:)``.
    func status(_ path: [String]) async throws -> FileStatus?

    /// The entries of the folder `path` names: every file and folder in it that the provider would open
    /// (links shown as what they lead to; links that lead outside the root, excluded folders and other kinds
    /// of file left out). Hidden names are included: the caller decides about those.
    ///
    /// - Parameter path: the segments below the root; empty for the root itself.
    /// - Returns: the entries in no particular order, or nil when `path` names no folder.
    /// - Throws: as ``open(_:memoryLimit:)``.
    func list(_ path: [String]) async throws -> [FolderEntry]?

    /// As ``list(_:)``, but stops reading past `limit` entries, and stops early when the calling task is
    /// cancelled (its client went away): the file server asks this way, so a folder of millions of names costs
    /// no more than `limit + 1` entries' memory and time.
    ///
    /// - Parameters:
    ///   - path: the segments below the root; empty for the root itself.
    ///   - limit: how many entries the caller can use; one more is returned when there are more.
    /// - Returns: at most `limit + 1` entries (more than `limit` says the folder holds more), or nil when
    ///   `path` names no folder.
    /// - Throws: as ``open(_:memoryLimit:)``; `CancellationError` when the task was cancelled meanwhile.
    func list(_ path: [String], limit: Int) async throws -> [FolderEntry]?
}

extension FileProvider {
    /// Lists the whole folder with ``list(_:)`` and keeps `limit + 1` entries: a provider that can stop
    /// reading early (``LocalFileProvider`` does) implements it itself.
    ///
    /// - Parameters:
    ///   - path: the segments below the root.
    ///   - limit: how many entries the caller can use.
    /// - Returns: at most `limit + 1` entries, or nil when `path` names no folder.
    /// - Throws: as ``list(_:)``; `CancellationError` when the task was cancelled.
    public func list(_ path: [String], limit: Int) async throws -> [FolderEntry]? {
        try Task.checkCancellation()
        guard let all = try await list(path) else { return nil }
        try Task.checkCancellation()
        return all.count > limit ? Array(all.prefix(max(0, limit) + 1)) : all
    }
}

/// What a ``FileProvider`` found at a path.
public enum FileLookup: Sendable {
    /// There, but the server may not read it (permissions): answered 403.
    case forbidden
    /// A regular file, open.
    case file(ProvidedFile)
    /// A folder.
    case folder(FileInfo)
    /// Nothing that may be served.
    case missing
}

/// A file a ``FileProvider`` opened: what `stat` says about it and its contents.
public struct ProvidedFile: Sendable {
    /// Size, kind, modification time and identity.
    public var info: FileInfo
    /// The bytes, or the open descriptor to send them from.
    public var contents: FileContents

    /// Pairs a file's description with its contents.
    ///
    /// - Parameters:
    ///   - info: what `stat` says (its size is the size served).
    ///   - contents: the bytes or the descriptor.
    public init(info: FileInfo, contents: FileContents) {
        self.info = info
        self.contents = contents
    }
}

/// How a provided file's bytes are reached.
public enum FileContents: Sendable {
    /// All of them, in memory.
    case bytes(ByteBuffer)
    /// An open descriptor, sent with `sendfile` (closed when the last holder lets go).
    case descriptor(OpenFile)
}

/// What a path names, for running it rather than reading it (``FileProvider/status(_:)``).
public struct FileStatus: Sendable, Hashable {
    /// Size, kind, modification time and identity.
    public var info: FileInfo
    /// Whether this process may read it.
    public var isReadable: Bool
    /// Whether this process may execute it.
    public var isExecutable: Bool
    /// Its absolute real path on this machine, when it has one (files on disk); nil otherwise.
    public var localPath: String?

    /// Describes a path's status.
    ///
    /// - Parameters:
    ///   - info: what `stat` says.
    ///   - isReadable: whether it may be read.
    ///   - isExecutable: whether it may be executed.
    ///   - localPath: its real path on disk, if any.
    public init(info: FileInfo, isReadable: Bool, isExecutable: Bool, localPath: String?) {
        self.info = info
        self.isReadable = isReadable
        self.isExecutable = isExecutable
        self.localPath = localPath
    }
}

/// One entry of a folder (``FileProvider/list(_:)``).
public struct FolderEntry: Sendable, Hashable {
    /// Its name in the folder.
    public var name: String
    /// What `stat` says about it (about what it leads to, for a link).
    public var info: FileInfo
    /// Whether the server may read it (a folder: list and enter it). Listings show an unreadable entry
    /// without a link; requesting it is answered 403.
    public var isReadable: Bool

    /// Describes an entry.
    ///
    /// - Parameters:
    ///   - name: its name.
    ///   - info: what `stat` says about it.
    ///   - isReadable: whether the server may read it (default true).
    public init(name: String, info: FileInfo, isReadable: Bool = true) {
        self.name = name
        self.info = info
        self.isReadable = isReadable
    }
}
