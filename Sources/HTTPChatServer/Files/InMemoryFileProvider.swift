import NIOConcurrencyHelpers
public import NIOCore

/// Files held in a dictionary: a ``FileProvider`` for tests (and for sites built into a binary). Paths are
/// `/`-separated names below the root (`"docs/a.txt"`); the folders on the way exist implicitly, empty ones
/// can be named. There are no links, permissions or excluded folders; every file is readable and none is
/// executable, and none has a local path (a `CGIResponder` cannot run one).
///
/// Each write gives the file a new identity (inode) and the modification time given, so validators change
/// as they would on disk.
///
/// ```swift
/// let provider = InMemoryFileProvider(files: ["index.html": ByteBuffer(string: "<h1>hi</h1>")])
/// let files = FileServer(provider: provider)
/// provider.write("news.txt", ByteBuffer(string: "new"), modified: 1_700_000_000)
/// ```
public final class InMemoryFileProvider: FileProvider {
    private enum Node {
        case file(ByteBuffer, FileInfo)
        case folder(FileInfo)
    }

    private struct Tree {
        var nodes: [String: Node] = [:]
        var nextInode: UInt64 = 2
    }

    private let tree = NIOLockedValueBox(Tree())
    /// The modification time of folders and of files written without one.
    public let modified: Int

    /// `memory:`, this provider's name for its root.
    public var root: String { "memory:" }

    /// Creates the files and folders given.
    ///
    /// - Parameters:
    ///   - files: contents by path (`"a/b.txt"`).
    ///   - folders: paths of folders to create even if empty.
    ///   - modified: the modification time of everything, seconds since the epoch (default 2024-01-01).
    public init(files: [String: ByteBuffer] = [:], folders: [String] = [], modified: Int = 1_704_067_200) {
        self.modified = modified
        tree.withLockedValue { tree in
            Self.addFolder([], to: &tree, modified: modified)
            for folder in folders.sorted() { Self.addFolder(Self.names(folder), to: &tree, modified: modified) }
        }
        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) { write(path, bytes) }
    }

    /// Creates or replaces a file (and the folders on its way).
    ///
    /// - Parameters:
    ///   - path: its path below the root.
    ///   - bytes: its contents.
    ///   - modified: its modification time (default ``modified``).
    public func write(_ path: String, _ bytes: ByteBuffer, modified: Int? = nil) {
        let names = Self.names(path)
        guard !names.isEmpty else { return }
        let mtime = modified ?? self.modified
        tree.withLockedValue { tree in
            Self.addFolder(Array(names.dropLast()), to: &tree, modified: self.modified)
            let info = FileInfo(size: bytes.readableBytes, isDirectory: false, mtimeSeconds: mtime, inode: tree.nextInode)
            tree.nextInode += 1
            tree.nodes[names.joined(separator: "/")] = .file(bytes, info)
        }
    }

    /// Removes a file, or a folder with everything in it.
    ///
    /// - Parameter path: its path below the root.
    public func remove(_ path: String) {
        let key = Self.names(path).joined(separator: "/")
        guard !key.isEmpty else { return }
        tree.withLockedValue { tree in
            tree.nodes = tree.nodes.filter { $0.key != key && !$0.key.hasPrefix(key + "/") }
        }
    }

    /// The file as bytes, or the folder.
    ///
    /// - Parameters:
    ///   - path: the segments below the root.
    ///   - memoryLimit: ignored: the bytes are in memory already.
    /// - Returns: the file, a folder, or missing.
    public func open(_ path: [String], memoryLimit: Int) async throws -> FileLookup {
        switch node(path) {
        case .file(let bytes, let info)?: return .file(ProvidedFile(info: info, contents: .bytes(bytes)))
        case .folder(let info)?: return .folder(info)
        case nil: return .missing
        }
    }

    /// The status of a file or folder: readable, not executable, no local path.
    ///
    /// - Parameter path: the segments below the root.
    /// - Returns: the status, or nil when absent.
    public func status(_ path: [String]) async throws -> FileStatus? {
        switch node(path) {
        case .file(_, let info)?, .folder(let info)?: return FileStatus(info: info, isReadable: true, isExecutable: false, localPath: nil)
        case nil: return nil
        }
    }

    /// The files and folders directly in a folder.
    ///
    /// - Parameter path: the segments below the root.
    /// - Returns: the entries, or nil when `path` names no folder.
    public func list(_ path: [String]) async throws -> [FolderEntry]? {
        guard case .folder? = node(path) else { return nil }
        let prefix = path.isEmpty ? "" : path.joined(separator: "/") + "/"
        return tree.withLockedValue { tree in
            tree.nodes.compactMap { key, node -> FolderEntry? in
                // On bytes: a name that starts with a combining mark makes `/` and the mark one Character.
                guard key.utf8.starts(with: prefix.utf8), key.utf8.count > prefix.utf8.count else { return nil }
                let name = String(Substring(key.utf8.dropFirst(prefix.utf8.count)))
                guard !name.utf8.contains(UInt8(ascii: "/")) else { return nil }
                switch node {
                case .file(_, let info), .folder(let info): return FolderEntry(name: name, info: info)
                }
            }
        }
    }

    private func node(_ path: [String]) -> Node? {
        // `..` and `.` name nothing here (the caller never sends them; they must not climb either).
        guard !path.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.utf8.contains(UInt8(ascii: "/")) }) else { return nil }
        let key = path.joined(separator: "/")
        return tree.withLockedValue { $0.nodes[key] }
    }

    private static func names(_ path: String) -> [String] {
        CanonicalPath.split(Substring(path)).map(String.init).filter { $0 != "." }
    }

    private static func addFolder(_ names: [String], to tree: inout Tree, modified: Int) {
        for depth in 0...names.count {
            let key = names.prefix(depth).joined(separator: "/")
            if case .folder? = tree.nodes[key] { continue }
            tree.nodes[key] = .folder(FileInfo(size: 0, isDirectory: true, mtimeSeconds: modified, inode: tree.nextInode))
            tree.nextInode += 1
        }
    }
}
