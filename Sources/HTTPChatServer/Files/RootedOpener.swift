#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens paths below a root folder one component at a time, from descriptors, so that what is checked is what
/// is opened: no path is resolved twice.
///
/// Resolving with `realpath()` and then opening the path again loses a race: between the two calls a folder
/// can be swapped for a symlink to `/`, and the open follows it (37 of 14,260 requests escaped ROOT in 3 s
/// when this was attacked). Here each component is opened with `openat(dir, name, O_NOFOLLOW)` from the
/// descriptor of the folder before it; a symlink met on the way is read (`readlinkat`) and its target walked
/// the same way, with `..` popping the walk's own stack of folder descriptors, so the walk can only leave
/// the root where the options allow it:
///
/// - by default a link is followed only while it stays inside: a relative target, or an absolute one under
///   the root's real path; a `..` above the root, or an absolute target elsewhere, answers ``Opened/missing``;
/// - with `followSymlinks`, targets anywhere are followed (the README's `--follow-symlinks`).
///
/// Folders in `excluded` (a CGI folder, say) are never passed through nor opened, checked by device and
/// inode on every folder of the walk, so no spelling of a path and no link reaches inside them.
///
/// One walk, rather than `openat2(RESOLVE_BENEATH)`: that flag refuses every absolute link, also those that
/// stay inside the root, which the file server has always followed; the walk keeps that meaning on every
/// kernel and on Darwin. Runs on NIO's thread pool: it does blocking file-system calls.
struct RootedOpener: Sendable {
    /// What a walk ended on. A descriptor handed out is the caller's to close.
    enum Opened {
        /// A regular file, open for reading.
        case file(CInt, stat)
        /// A folder, open for reading (`fdopendir`).
        case directory(CInt, stat)
        /// There, inside the root and servable, but the process may not read it (or pass through a folder on
        /// the way): `EACCES`.
        case forbidden
        /// Absent, not a file or folder, outside the root, or in an excluded folder.
        case missing
    }

    /// The root's real path.
    let root: String
    /// Whether links may lead outside the root.
    let followSymlinks: Bool
    /// Absolute paths of folders never served (their identity is read again on each walk, so a folder
    /// replaced on disk stays excluded).
    let excluded: [String]

    /// More links than this in one walk is a loop (Linux's own bound).
    static let maxLinks = 40

    #if os(Linux)
    /// Folders on the way are opened only to walk through them: `O_PATH` needs no read permission, and with
    /// `O_NOFOLLOW` it opens a link itself instead of failing.
    private static let passFlags = oPath | O_NOFOLLOW | O_CLOEXEC
    /// `O_PATH`, which Glibc's Swift module hides behind `_GNU_SOURCE`: 010000000 on every architecture
    /// Swift runs on (x86_64, arm64; only alpha, parisc and sparc differ).
    private static let oPath: CInt = 0o10000000
    #else
    private static let passFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC
    #endif
    /// The last component is opened for reading; `O_NONBLOCK` keeps a FIFO from holding the thread.
    private static let openFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC

    /// Opens `components` (names without `/`, as ``PathResolution/segments(_:hidden:)`` gives) below the root.
    ///
    /// - Parameter components: the path's names in order; empty for the root itself.
    /// - Returns: what the path is, with an open descriptor for files and folders.
    func open(_ components: [String]) -> Opened {
        walk(components, reading: true).opened
    }

    /// Finds `components` by the same walk without reading the last one (on Linux it is opened with `O_PATH`,
    /// so a file that may be run but not read is found too), and the real path the walk reached: for running
    /// what was found (a CGI script) by its path.
    ///
    /// - Parameter components: the path's names in order; empty for the root itself.
    /// - Returns: what the path is (its descriptor the caller's to close), and its absolute real path (links
    ///   replaced by what the walk followed), nil when missing.
    func locate(_ components: [String]) -> (opened: Opened, path: String?) {
        let (opened, place) = walk(components, reading: false)
        switch opened {
        case .missing, .forbidden: return (opened, nil)
        case .file, .directory: break
        }
        return (opened, "/" + place.joined(separator: "/"))
    }

    /// The walk: what it ended on, and the names from `/` of the place it ended at.
    private func walk(_ components: [String], reading: Bool) -> (opened: Opened, place: [String]) {
        let rootFD = Self.openDirectory(root)
        guard rootFD >= 0 else { return (.missing, []) }
        let forbidden = excludedIdentities()
        var stack: [CInt] = [rootFD]  // the folders walked through; stack[0] is where the walk started
        defer { for fd in stack { close(fd) } }
        var pending = Array(components.reversed())  // what is left to walk, last name first
        var links = 0
        let rootParts = CanonicalPath.split(Substring(root)).map(String.init)
        var place = rootParts  // the names from `/` of the folder on top of the stack
        func missing() -> (opened: Opened, place: [String]) { (.missing, []) }

        while let name = pending.popLast() {
            // One name, one level: `openat` would walk a `/` inside a name itself, past the checks below.
            if name.utf8.contains(UInt8(ascii: "/")) { return missing() }
            if name.isEmpty || name == "." { continue }
            if name == ".." {
                if stack.count > 1 {
                    close(stack.removeLast())
                    place.removeLast()
                    continue
                }
                guard followSymlinks else { return missing() }  // it would climb out of the root
                let parent = openat(stack[0], "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard parent >= 0 else { return missing() }
                close(stack[0])
                stack[0] = parent
                _ = place.popLast()
                continue
            }
            let folder = stack[stack.count - 1]
            let last = pending.isEmpty
            let fd = openat(folder, name, last && reading ? Self.openFlags : Self.passFlags)
            var st = stat()
            if fd >= 0 {
                guard fstat(fd, &st) == 0 else {
                    close(fd)
                    return missing()
                }
                let type = st.st_mode & S_IFMT
                if type != S_IFLNK {
                    if type == S_IFDIR, forbidden.contains(FileIdentity(st)) {
                        close(fd)
                        return missing()
                    }
                    if !last {
                        guard type == S_IFDIR else {
                            close(fd)
                            return missing()
                        }
                        stack.append(fd)
                        place.append(name)
                        continue
                    }
                    if type == S_IFREG { return (.file(fd, st), place + [name]) }
                    if type == S_IFDIR { return (.directory(fd, st), place + [name]) }
                    close(fd)
                    return missing()  // a FIFO, socket or device is never served
                }
                close(fd)  // O_PATH | O_NOFOLLOW opened the link itself
            } else if errno == EACCES {
                return (.forbidden, [])
            } else if errno != ELOOP {
                return missing()  // ELOOP: O_NOFOLLOW met a link
            }

            // A symlink: walk its target in its place.
            links += 1
            guard links <= Self.maxLinks, let target = Self.readLink(folder, name), !target.isEmpty else { return missing() }
            var parts = CanonicalPath.split(Substring(target)).map(String.init)
            if target.utf8.first == UInt8(ascii: "/") {  // a byte: "/\u{301}x" is absolute too
                let start: String
                if let inside = insideRoot(target) {
                    start = root
                    parts = inside
                    place = rootParts
                } else {
                    guard followSymlinks else { return missing() }
                    start = "/"
                    place = []
                }
                let fresh = Self.openDirectory(start)
                guard fresh >= 0 else { return missing() }
                for fd in stack { close(fd) }
                stack = [fresh]
            }
            pending.append(contentsOf: parts.reversed())
        }

        // The walk ended on a folder already passed through (no components, or a last `.`, `..` or link).
        let fd = openat(stack[stack.count - 1], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return errno == EACCES ? (.forbidden, []) : missing() }
        var st = stat()
        guard fstat(fd, &st) == 0, !forbidden.contains(FileIdentity(st)) else {
            close(fd)
            return missing()
        }
        return (.directory(fd, st), place)
    }

    /// The device and inode of each excluded folder that exists now.
    func excludedIdentities() -> [FileIdentity] {
        excluded.compactMap { path -> FileIdentity? in
            var st = stat()
            return stat(path, &st) == 0 ? FileIdentity(st) : nil
        }
    }

    /// The components of an absolute link target below the root, or nil when it names a place elsewhere.
    private func insideRoot(_ target: String) -> [String]? {
        let parts = CanonicalPath.split(Substring(target)).map(String.init)
        let rootParts = CanonicalPath.split(Substring(root)).map(String.init)
        // Names compared as bytes: String's == holds `é` and `e\u{301}` equal, the file system does not.
        guard parts.starts(with: rootParts, by: { $0.utf8.elementsEqual($1.utf8) }) else { return nil }
        return Array(parts.dropFirst(rootParts.count))
    }

    private static func openDirectory(_ path: String) -> CInt {
        systemOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }

    private static func readLink(_ folder: CInt, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(folder, name, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A file's identity on this machine: its device and inode.
struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64

    init(_ st: stat) {
        device = UInt64(truncatingIfNeeded: st.st_dev)
        inode = UInt64(truncatingIfNeeded: st.st_ino)
    }
}

/// `open(2)` without a mode (the libc function is shadowed inside types that have an `open` method).
@inline(__always)
private func systemOpen(_ path: String, _ flags: CInt) -> CInt {
    #if canImport(Glibc)
    Glibc.open(path, flags)
    #else
    Darwin.open(path, flags)
    #endif
}
