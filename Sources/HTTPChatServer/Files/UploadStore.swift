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
/// other; the loser answers 409) or, with overwrite, by `renameat` (atomic replacement). A cut-off upload
/// removes its temporary file. Every call that touches the disk runs on NIO's thread pool.
struct UploadStore: Sendable {
    /// The prefix of in-progress upload files: a name starting with it is never served, listed or archived.
    static let tempPrefix = ".upload-"
    /// The longest name stored, in UTF-8 bytes (the usual `NAME_MAX`).
    static let maxNameBytes = 255

    /// The walk that opens target folders (never following links out of the root).
    let opener: RootedOpener

    /// A store for the folder `root` (a real path), with `excluded` folders refused.
    init(root: String, excluded: [String]) {
        opener = RootedOpener(root: root, followSymlinks: false, excluded: excluded)
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

    /// Creates a new temporary file in `folder`, mode 0644 (an existing name is never opened: `O_EXCL`).
    ///
    /// - Throws: ``HTTPError`` 403 when the folder is not writable (or on a read-only file system), 507 when
    ///   the disk is full, 500 otherwise.
    func createTemporary(in folder: UploadFolder) async throws -> UploadTempFile {
        try await NIOThreadPool.singleton.runIfActive { () -> UploadTempFile in
            for _ in 0..<8 {
                let name = Self.tempPrefix + String(UInt64.random(in: .min ... .max), radix: 16) + String(UInt32.random(in: .min ... .max), radix: 16)
                let fd = openat(folder.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                if fd >= 0 { return UploadTempFile(folder: folder, name: name, fd: fd) }
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
}

/// A folder open for storing uploads into; its descriptor closes when the last holder lets go.
final class UploadFolder: Sendable {
    /// The folder's descriptor (from the ``RootedOpener`` walk).
    let fd: CInt

    init(_ fd: CInt) { self.fd = fd }

    deinit { close(fd) }

    /// What `name` is now. Blocking: call on the thread pool.
    func existing(_ name: String) -> UploadStore.Existing {
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return .none }
        let type = st.st_mode & S_IFMT
        return type == S_IFREG || type == S_IFLNK ? .file : .other
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
    private let state = NIOLockedValueBox(State.writing)

    init(folder: UploadFolder, name: String, fd: CInt) {
        self.folder = folder
        self.name = name
        self.fd = fd
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
    /// - Returns: whether a file was replaced.
    /// - Throws: ``HTTPError`` 409 when the name is taken (a folder, or any file without `overwrite`), 500.
    func commit(as target: String, overwrite: Bool) async throws -> Bool {
        try await run { () -> Bool in
            close(self.fd)
            let dir = self.folder.fd
            defer { unlinkat(dir, self.name, 0) }  // gone after a link, or a failure; a no-op after a rename
            if overwrite {
                let before = self.folder.existing(target)
                if before == .other { throw HTTPError(.conflict, "a folder or special file has that name") }
                guard renameat(dir, self.name, dir, target) == 0 else {
                    switch errno {
                    case EISDIR, ENOTDIR, EEXIST, ENOTEMPTY: throw HTTPError(.conflict, "a folder has that name")
                    default: throw UploadStore.error(errno)
                    }
                }
                return before == .file
            }
            if linkat(dir, self.name, dir, target, 0) == 0 { return false }
            switch errno {
            case EEXIST:
                throw HTTPError(.conflict, "a file with that name exists")
            case EPERM, EOPNOTSUPP, EMLINK, EXDEV:
                // No hard links here (FAT, some network file systems): check, then rename.
                guard self.folder.existing(target) == .none else { throw HTTPError(.conflict, "a file with that name exists") }
                guard renameat(dir, self.name, dir, target) == 0 else { throw UploadStore.error(errno) }
                return false
            default:
                throw UploadStore.error(errno)
            }
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
