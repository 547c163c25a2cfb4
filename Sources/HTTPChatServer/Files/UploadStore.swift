import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stores uploaded files in folders below a root on disk: the disk half of ``FileServerOptions/uploads``.
///
/// No path string is ever resolved twice. The target folder is opened by the ``RootedOpener`` walk
/// (`O_NOFOLLOW` per component, links followed only while they stay inside the root, whatever
/// ``FileServerOptions/followSymlinks`` says; excluded folders such as `cgi-bin` refused by device and inode),
/// and everything after happens relative to that folder's descriptor: the temporary file is created with
/// `openat(O_CREAT | O_EXCL | O_NOFOLLOW)` under a name starting with ``tempPrefix`` (never served nor listed,
/// even with ``FileServerOptions/hidden``), written off the event loops, and given its name only once
/// complete, by `linkat` (fails when the name exists: two uploads racing to one new name cannot clobber each
/// other; the loser answers 409) or, with overwrite, by `renameat` (atomic replacement). Before the name is
/// given the file is `fsync`ed, and after it the folder, so a power loss leaves the old file or the whole new
/// one under the name, never an empty or partial one. A cut-off upload removes its temporary file; those a
/// killed server left behind are swept when the store starts (``sweepTemporaries(olderThan:now:)``). Every
/// call that touches the disk runs on NIO's thread pool.
struct UploadStore: Sendable {
    /// The prefix of in-progress upload files: a name starting with it is never served, listed or archived.
    static let tempPrefix = ".upload-"
    /// The longest name stored, in UTF-8 bytes (the usual `NAME_MAX`).
    static let maxNameBytes = 255

    /// How old (by modification time) a temporary file must be before the start-up sweep removes it: one
    /// hour, so the uploads in progress of another server on the same folder are left alone (a temporary file
    /// is written at least every batch, about 1 MiB, so a live upload's is never that old unless its client
    /// stalled longer than any body-read timeout).
    static let staleTemporaryAge: Duration = .seconds(3600)
    /// The most folders the sweep visits (deeper or wider trees are swept in part).
    static let sweepMaxFolders = 65_536

    /// The walk that opens target folders (never following links out of the root).
    let opener: RootedOpener
    /// Flushes a descriptor to disk: `fsync(2)`; tests put a recorder here.
    let sync: @Sendable (CInt) -> CInt

    /// A store for the folder `root` (a real path), with `excluded` folders refused.
    ///
    /// - Parameter sync: flushes a file or folder descriptor to disk (default `fsync`); returns 0 or -1.
    init(root: String, excluded: [String], sync: @escaping @Sendable (CInt) -> CInt = { fsync($0) }) {
        opener = RootedOpener(root: root, followSymlinks: false, excluded: excluded)
        self.sync = sync
    }

    /// Whether `name` may be stored as given: not empty, at most ``maxNameBytes`` bytes, not `.` or `..`, no
    /// `/` or `\`, no character ``MultipartParser/sanitizeFilename(_:)`` takes out (controls and NUL, bidi
    /// overrides and other format characters, line separators), not a dotfile unless `hidden`, never the
    /// ``tempPrefix``.
    static func acceptable(_ name: String, hidden: Bool) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxNameBytes, name != ".", name != ".." else { return false }
        guard !CanonicalPath.hasSeparator(name), !isTemporary(name) else { return false }
        if CanonicalPath.isHidden(name) && !hidden { return false }
        return !name.unicodeScalars.contains(where: MultipartParser.isRemovedFromFilenames)
    }

    /// Whether `name` is an upload's temporary name (compared on bytes, as path code does).
    static func isTemporary(_ name: some StringProtocol) -> Bool {
        name.utf8.starts(with: tempPrefix.utf8)
    }

    /// What a name in a folder is now.
    enum Existing: Sendable, Equatable {
        /// Nothing by that name.
        case none
        /// A regular file or a link (replaced itself by an overwrite, never written through).
        case file
        /// A folder, FIFO, socket or device: never replaced.
        case other
    }

    /// Opens the folder `components` names for storing into.
    ///
    /// - Returns: the open folder.
    /// - Throws: ``HTTPError`` 404 when missing (outside the root, excluded, or a link leaving it), 403 when
    ///   the server may not read it, 409 when it is a file.
    func openFolder(_ components: [String]) async throws -> UploadFolder {
        let opener = self.opener
        return try await NIOThreadPool.singleton.runIfActive { () -> UploadFolder in
            switch opener.open(components) {
            case .directory(let fd, _): return UploadFolder(fd)
            case .file(let fd, _):
                close(fd)
                throw HTTPError(.conflict, "not a folder")
            case .forbidden: throw HTTPError(.forbidden)
            case .missing: throw HTTPError(.notFound, "no such folder")
            }
        }
    }

    /// What `name` is in `folder` now (`fstatat` without following a link).
    func existing(_ name: String, in folder: UploadFolder) async throws -> Existing {
        try await NIOThreadPool.singleton.runIfActive { folder.existing(name) }
    }

    /// What `name` is in `folder` now, with its validators when it is a file (`fstatat` without following a
    /// link: the entry a rename would replace).
    func entry(_ name: String, in folder: UploadFolder) async throws -> UploadEntry {
        try await NIOThreadPool.singleton.runIfActive { folder.entry(name) }
    }

    /// Creates a new temporary file in `folder`, mode 0644 (an existing name is never opened: `O_EXCL`).
    ///
    /// - Throws: ``HTTPError`` 403 when the folder is not writable (or on a read-only file system), 507 when
    ///   the disk is full, 500 otherwise.
    func createTemporary(in folder: UploadFolder) async throws -> UploadTempFile {
        try await NIOThreadPool.singleton.runIfActive { () -> UploadTempFile in
            for _ in 0..<8 {
                let name = Self.tempPrefix + String(UInt64.random(in: .min ... .max), radix: 16) + String(UInt32.random(in: .min ... .max), radix: 16)
                let fd = openat(folder.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                if fd >= 0 { return UploadTempFile(folder: folder, name: name, fd: fd, sync: sync) }
                if errno == EEXIST { continue }
                throw Self.error(errno)
            }
            throw HTTPError(.internalServerError)
        }
    }

    /// The answer for a failed write or create.
    static func error(_ code: CInt) -> HTTPError {
        switch code {
        case EACCES, EPERM, EROFS: return HTTPError(.forbidden, "the folder is not writable")
        case ENOSPC, EDQUOT, EFBIG: return HTTPError(.init(code: 507, reasonPhrase: "Insufficient Storage"))
        default: return HTTPError(.internalServerError)
        }
    }

    // MARK: - Sweeping what a killed server left

    /// Whether `name` is exactly a name ``createTemporary(in:)`` makes: ``tempPrefix`` and 1 to 24 lowercase
    /// hex digits. A user's `.upload-notes.txt` is not one, so the sweep never touches it.
    static func isOwnTemporaryName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard bytes.starts(with: tempPrefix.utf8) else { return false }
        let digits = bytes.dropFirst(tempPrefix.utf8.count)
        return (1...24).contains(digits.count)
            && digits.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    /// Removes the temporary files uploads left behind (a server killed mid-upload cannot remove its own):
    /// regular files named as ``createTemporary(in:)`` names them and last modified more than `age` before
    /// `now`, in every folder below the root. The walk never follows a link, skips excluded folders (by device
    /// and inode) and visits at most ``sweepMaxFolders`` folders. Blocking: call on the thread pool.
    ///
    /// - Parameters:
    ///   - age: how old a temporary file must be (default ``staleTemporaryAge``, so another server's uploads
    ///     in progress on the same folder are left alone).
    ///   - now: seconds since the epoch (a parameter, so tests can move the clock).
    /// - Returns: the names removed, relative to the root.
    @discardableResult
    func sweepTemporaries(olderThan age: Duration = UploadStore.staleTemporaryAge, now: Int = Int(time(nil))) -> [String] {
        guard case .directory(let rootFD, _) = opener.open([]) else { return [] }
        let excluded = Set(opener.excludedIdentities())
        let cutoff = now - Int(age.components.seconds)
        var removed: [String] = []
        var folders: [(fd: CInt, path: String)] = [(rootFD, "")]
        var visited = 0
        while let (fd, path) = folders.popLast() {
            visited += 1
            guard let dir = fdopendir(fd) else {
                close(fd)
                continue
            }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) { tuple in
                    tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                var st = stat()
                guard fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFREG where Self.isOwnTemporaryName(name) && FileInfo(st).mtimeSeconds < cutoff:
                    if unlinkat(dirfd(dir), name, 0) == 0 { removed.append(path + name) }
                case S_IFDIR where visited + folders.count < Self.sweepMaxFolders && !excluded.contains(FileIdentity(st)):
                    let child = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    if child >= 0 { folders.append((child, path + name + "/")) }
                default:
                    break
                }
            }
        }
        return removed
    }

    /// Starts ``sweepTemporaries(olderThan:now:)`` on the thread pool and returns at once.
    func startSweep() {
        let store = self
        NIOThreadPool.singleton.submit { state in
            guard case .active = state else { return }
            store.sweepTemporaries()
        }
    }
}

/// A name in an upload folder as a commit would replace it.
struct UploadEntry: Sendable, Equatable {
    /// What it is.
    var kind: UploadStore.Existing
    /// Its validators when it is a regular file or link (of the entry itself, not a link's target).
    var validators: Validators?
}

/// A folder open for storing uploads into; its descriptor closes when the last holder lets go.
final class UploadFolder: Sendable {
    /// The folder's descriptor (from the ``RootedOpener`` walk).
    let fd: CInt

    init(_ fd: CInt) { self.fd = fd }

    deinit { close(fd) }

    /// What `name` is now. Blocking: call on the thread pool.
    func existing(_ name: String) -> UploadStore.Existing {
        entry(name).kind
    }

    /// What `name` is now, with its validators when it is a file. Blocking: call on the thread pool.
    func entry(_ name: String) -> UploadEntry {
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return UploadEntry(kind: .none) }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFLNK else { return UploadEntry(kind: .other) }
        return UploadEntry(kind: .file, validators: FileInfo(st).validators)
    }
}

/// An upload in progress: a temporary file in its folder, written in order from one task, then either given
/// its name (``commit(as:overwrite:)``) or removed (``discard()``). Dropped while neither happened (a task
/// that vanished), it removes itself.
final class UploadTempFile: Sendable {
    private enum State {
        case writing
        case finished
    }

    /// The folder it is in (held open: the name is only meaningful relative to it).
    let folder: UploadFolder
    /// Its temporary name (``UploadStore/tempPrefix`` and random hex).
    let name: String
    private let fd: CInt
    private let sync: @Sendable (CInt) -> CInt
    private let state = NIOLockedValueBox(State.writing)

    /// Serializes the last check of a commit's preconditions with its rename, across every upload of this
    /// process: two conditional PUTs to one name cannot both pass against the same old file.
    private static let commitLock = NIOLock()

    init(folder: UploadFolder, name: String, fd: CInt, sync: @escaping @Sendable (CInt) -> CInt) {
        self.folder = folder
        self.name = name
        self.fd = fd
        self.sync = sync
    }

    deinit {
        // The last resort: normally commit or discard ran on the thread pool already.
        if takeOver() {
            close(fd)
            unlinkat(folder.fd, name, 0)
        }
    }

    /// Whether this call ends the writing state (only one of commit, discard and deinit does the work).
    private func takeOver() -> Bool {
        state.withLockedValue { s in
            guard case .writing = s else { return false }
            s = .finished
            return true
        }
    }

    /// Appends `buffers` to the file, on the thread pool.
    ///
    /// - Throws: ``HTTPError`` 507 when the disk is full, 500 for another failure; `CancellationError`.
    func write(_ buffers: [ByteBuffer]) async throws {
        let fd = self.fd
        try await NIOThreadPool.singleton.runIfActive { () in
            for buffer in buffers {
                try buffer.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) in
                    var done = 0
                    while done < raw.count {
                        let n = systemWrite(fd, raw.baseAddress! + done, raw.count - done)
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw UploadStore.error(errno)
                        }
                        done += n
                    }
                }
            }
        }
    }

    /// Gives the file its name in its folder: `linkat` then removing the temporary name (the name must not
    /// exist: a race lost answers 409), or with `overwrite` an atomic `renameat` over a file or link there.
    /// On a file system without hard links, the name is checked and then renamed into place: a race between
    /// two uploads to one new name there lets the later one win.
    ///
    /// The file is `fsync`ed before it gets the name and the folder after (so after a power loss the name
    /// holds the old file or the whole new one, never an empty one); a failed file sync is an error (nothing
    /// is named), a failed folder sync is not (the name is given; some file systems refuse to sync folders).
    ///
    /// - Parameters:
    ///   - target: the name to give.
    ///   - overwrite: whether an existing file or link is replaced.
    ///   - check: called with what `target` is just before the rename or link, under a lock every commit of
    ///     this process takes, so no other upload can replace it between the check and the rename; throw to
    ///     refuse (the temporary file is then removed). Another process can still change the name in the
    ///     microseconds between the `fstatat` and the `renameat`.
    /// - Returns: whether a file was replaced.
    /// - Throws: ``HTTPError`` 409 when the name is taken (a folder, or any file without `overwrite`), what
    ///   `check` throws, 507 or 500 when the file cannot be synced, 500.
    func commit(
        as target: String, overwrite: Bool, check: (@Sendable (UploadEntry) throws -> Void)? = nil
    ) async throws -> Bool {
        try await run { () -> Bool in
            let synced = self.sync(self.fd) == 0 ? 0 : errno
            close(self.fd)
            let dir = self.folder.fd
            defer { unlinkat(dir, self.name, 0) }  // gone after a link, or a failure; a no-op after a rename
            if synced != 0 { throw UploadStore.error(synced) }
            let replaced = try Self.commitLock.withLock { () throws -> Bool in
                if let check { try check(self.folder.entry(target)) }
                return try self.name(as: target, overwrite: overwrite)
            }
            _ = self.sync(dir)  // the new name reaches the disk (best effort: the name is given already)
            return replaced
        }
    }

    /// Renames or links the temporary file to `target`. Blocking: runs inside ``commit(as:overwrite:check:)``.
    private func name(as target: String, overwrite: Bool) throws -> Bool {
        let dir = folder.fd
        if overwrite {
            let before = folder.existing(target)
            if before == .other { throw HTTPError(.conflict, "a folder or special file has that name") }
            guard renameat(dir, name, dir, target) == 0 else {
                switch errno {
                case EISDIR, ENOTDIR, EEXIST, ENOTEMPTY: throw HTTPError(.conflict, "a folder has that name")
                default: throw UploadStore.error(errno)
                }
            }
            return before == .file
        }
        if linkat(dir, name, dir, target, 0) == 0 { return false }
        switch errno {
        case EEXIST:
            throw HTTPError(.conflict, "a file with that name exists")
        case EPERM, EOPNOTSUPP, EMLINK, EXDEV:
            // No hard links here (FAT, some network file systems): check, then rename.
            guard folder.existing(target) == .none else { throw HTTPError(.conflict, "a file with that name exists") }
            guard renameat(dir, name, dir, target) == 0 else { throw UploadStore.error(errno) }
            return false
        default:
            throw UploadStore.error(errno)
        }
    }

    /// Closes and removes the temporary file. Runs even when the task is cancelled (a client that went away).
    func discard() async {
        _ = try? await run { () in
            close(self.fd)
            unlinkat(self.folder.fd, self.name, 0)
        }
    }

    /// Runs `body` once, on the thread pool, unless commit or discard already ran; not cancellable, so the
    /// file is cleaned up whatever happened to the task.
    private func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard takeOver() else { throw HTTPError(.internalServerError) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            NIOThreadPool.singleton.submit { _ in  // run whatever the pool's state: this is cleanup
                continuation.resume(with: Result { try body() })
            }
        }
    }
}

/// `write(2)` (the libc function is shadowed inside types that have a `write` method).
@inline(__always)
private func systemWrite(_ fd: CInt, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
