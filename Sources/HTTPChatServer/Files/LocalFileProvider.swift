import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files in a folder on this machine: the default ``FileProvider``. Every lookup is one `RootedOpener`
/// walk from the root's descriptor (`openat` with `O_NOFOLLOW` per component), so what is checked is what
/// is opened: links are followed only while they stay inside the root (unless `followSymlinks`), and the
/// excluded folders are refused by device and inode however they are reached. All of it runs on NIO's
/// thread pool, never on an event loop.
///
/// ```swift
/// let provider = try LocalFileProvider(root: "./public", excludedFolders: ["private"])
/// let files = FileServer(provider: provider)
/// ```
public struct LocalFileProvider: FileProvider {
    /// The root's real path.
    public let root: String
    /// Whether links may lead outside the root.
    public let followSymlinks: Bool
    /// The excluded folders' absolute paths (real paths when they existed at init).
    public let excludedFolders: [String]
    /// The walk every lookup goes through.
    let opener: RootedOpener

    /// Serves the folder `root`.
    ///
    /// - Parameters:
    ///   - root: the folder.
    ///   - followSymlinks: follow links whose targets leave the root (default off).
    ///   - excludedFolders: folders (absolute, or relative to the root) never found nor listed, however
    ///     they are reached (default none).
    /// - Throws: ``FileServerError/rootNotADirectory(_:)`` when `root` is not an existing folder.
    public init(root: String, followSymlinks: Bool = false, excludedFolders: [String] = []) throws {
        guard let resolved = realpath(root, nil) else { throw FileServerError.rootNotADirectory(root) }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard PathResolution.info(real)?.isDirectory == true else { throw FileServerError.rootNotADirectory(root) }
        let excluded = excludedFolders.map { folder -> String in
            let absolute = folder.hasPrefix("/") ? folder : real + "/" + folder
            guard let resolved = realpath(absolute, nil) else { return absolute }
            defer { free(resolved) }
            return String(cString: resolved)
        }
        self.root = real
        self.followSymlinks = followSymlinks
        self.excludedFolders = excluded
        self.opener = RootedOpener(root: real, followSymlinks: followSymlinks, excluded: excluded)
    }

    /// Opens `path` through the walk; a file up to `memoryLimit` bytes is read and its descriptor closed.
    ///
    /// - Parameters:
    ///   - path: the segments below the root.
    ///   - memoryLimit: the largest file returned as bytes.
    /// - Returns: the file, a folder, or missing.
    /// - Throws: when NIO's thread pool is not running.
    public func open(_ path: [String], memoryLimit: Int) async throws -> FileLookup {
        let opener = self.opener
        return try await NIOThreadPool.singleton.runIfActive { () -> FileLookup in
            switch opener.open(path) {
            case .missing:
                return .missing
            case .forbidden:
                return .forbidden
            case .directory(let fd, let st):
                close(fd)
                return .folder(FileInfo(st))
            case .file(let fd, let st):
                let info = FileInfo(st)
                let file = OpenFile(takingOwnershipOf: fd)
                if info.size <= memoryLimit {
                    var bytes = ByteBuffer()
                    let ok = (try? bytes.writePositionalRead(fd: fd, offset: 0, count: info.size)) != nil
                    // A file that changed size meanwhile is sent from its descriptor, with the size stat gave.
                    if ok && bytes.readableBytes == info.size { return .file(ProvidedFile(info: info, contents: .bytes(bytes))) }
                }
                return .file(ProvidedFile(info: info, contents: .descriptor(file)))
            }
        }
    }

    /// Finds `path` through the walk without reading it, with its real path.
    ///
    /// - Parameter path: the segments below the root.
    /// - Returns: its status, or nil when the walk finds nothing.
    /// - Throws: when NIO's thread pool is not running.
    public func status(_ path: [String]) async throws -> FileStatus? {
        let opener = self.opener
        return try await NIOThreadPool.singleton.runIfActive { () -> FileStatus? in
            let (opened, real) = opener.locate(path)
            switch opened {
            case .missing, .forbidden:
                return nil
            case .file(let fd, let st), .directory(let fd, let st):
                close(fd)
                guard let real else { return nil }
                return FileStatus(info: FileInfo(st), isReadable: access(real, R_OK) == 0, isExecutable: access(real, X_OK) == 0, localPath: real)
            }
        }
    }

    /// Lists the folder `path` names. It is opened through the walk and read from that descriptor
    /// (`fdopendir`), each entry looked at from it (`fstatat`), so a folder swapped for a link mid-listing
    /// cannot show what lies outside; a link is shown as what it leads to when the walk would follow it.
    ///
    /// - Parameter path: the segments below the root.
    /// - Returns: the entries, or nil when `path` names no folder.
    /// - Throws: when NIO's thread pool is not running.
    public func list(_ path: [String]) async throws -> [FolderEntry]? {
        try await read(path, limit: Int.max, stop: nil)
    }

    /// Lists the folder `path` names as ``list(_:)`` does, reading no more than `limit + 1` entries, and
    /// stopping within 256 entries of the calling task's cancellation.
    ///
    /// - Parameters:
    ///   - path: the segments below the root.
    ///   - limit: how many entries the caller can use; one more says there are more.
    /// - Returns: at most `limit + 1` entries, or nil when `path` names no folder.
    /// - Throws: when NIO's thread pool is not running; `CancellationError` when the task was cancelled.
    public func list(_ path: [String], limit: Int) async throws -> [FolderEntry]? {
        try Task.checkCancellation()
        let stop = NIOLockedValueBox(false)
        let listed = try await withTaskCancellationHandler {
            try await read(path, limit: limit, stop: stop)
        } onCancel: {
            stop.withLockedValue { $0 = true }
        }
        try Task.checkCancellation()
        return listed
    }

    /// The listing, read on NIO's thread pool: at most `limit + 1` entries, and none more once `stop` is set.
    private func read(_ path: [String], limit: Int, stop: NIOLockedValueBox<Bool>?) async throws -> [FolderEntry]? {
        let opener = self.opener
        let most = limit == Int.max ? limit : max(0, limit) + 1
        return try await NIOThreadPool.singleton.runIfActive { () -> [FolderEntry]? in
            guard case .directory(let fd, _) = opener.open(path) else { return nil }
            guard let dir = fdopendir(fd) else {
                close(fd)
                return nil
            }
            defer { closedir(dir) }  // closes fd too
            let forbidden = opener.excludedIdentities()
            var entries: [FolderEntry] = []
            while entries.count < most, let item = readdir(dir) {
                if let stop, entries.count % 256 == 255, stop.withLockedValue({ $0 }) { break }
                let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name == "." || name == ".." { continue }
                var st = stat()
                guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFLNK {
                    switch opener.open(path + [name]) {
                    case .file(let target, let targetStat), .directory(let target, let targetStat):
                        close(target)
                        st = targetStat
                    case .forbidden:
                        guard fstatat(fd, name, &st, 0) == 0 else { continue }  // there, but not for us
                    case .missing:
                        continue
                    }
                }
                let info = FileInfo(st)
                guard info.isDirectory || info.isRegularFile else { continue }
                if info.isDirectory, forbidden.contains(FileIdentity(st)) { continue }
                // A folder must also be passable (x) to be of use; the check is the process's own rights.
                let readable = faccessat(fd, name, info.isDirectory ? R_OK | X_OK : R_OK, AT_EACCESS) == 0
                entries.append(FolderEntry(name: name, info: info, isReadable: readable))
            }
            return entries
        }
    }
}
