#if os(Linux)
import Glibc
import NIOConcurrencyHelpers
import NIOPosix

/// Watches a folder and everything below it with Linux inotify, and reports the paths that changed in
/// coalesced batches (``ChangeCoalescer``).
///
/// All the blocking is on one thread of its own (a one-thread `NIOThreadPool`): a `poll` on the inotify
/// descriptor and a stop descriptor, the reads, and the folder scans when watches are added. No event loop
/// and no thread of the shared pool ever waits on it. `onChange` and `onProblem` are called on that thread.
///
/// - Folders created (or moved in) later are watched as they appear; the files already in them when the
///   watch was added are reported too (they may have been written before it). Folders deleted or moved out
///   lose their watches (the kernel's `IN_IGNORED`, or removed here for a move).
/// - Names starting with `.` (editors' swap files, `.git`) are skipped unless `hidden`, and
///   upload temporaries (`.upload-…`) always; so are the `excluded` folders (relative to the root), and
///   links are not followed (`IN_DONT_FOLLOW`; a linked folder is not entered).
/// - Bounded: at most `maxWatches` folders are watched. When that many are reached, or the kernel's
///   `fs.inotify.max_user_watches` is (`ENOSPC`), `onProblem` is called once and the folders beyond are not
///   watched; everything else keeps working. A queue overflow (`IN_Q_OVERFLOW`) reports the root (`/`) and
///   scans the tree again for folders whose creation was lost.
///
/// Paths are reported below the root with a leading `/` (`/css/site.css`), as URL paths of a file server
/// mounted at `/` (not percent-encoded).
package final class DirectoryWatcher: Sendable {
    /// Why a watcher could not start.
    package struct StartError: Error, CustomStringConvertible {
        /// What failed.
        package let description: String
    }

    /// The write end of the stop pipe: closing it ends the thread's poll.
    private let stopDescriptor: CInt
    private let thread: NIOThreadPool
    private let stopped = NIOLockedValueBox(false)

    /// Starts watching.
    ///
    /// - Parameters:
    ///   - root: the folder to watch (an absolute or relative path).
    ///   - excluded: folders below the root, `/`-separated relative paths, not watched (CGI's `cgi-bin`).
    ///   - hidden: whether names starting with `.` are watched.
    ///   - maxWatches: the most folders watched (default 65,536).
    ///   - quiet: how long without events ends a burst (default 100 ms).
    ///   - onChange: called with each batch of changed paths, on the watcher's thread.
    ///   - onProblem: called with a message when some folders cannot be watched (once), on the watcher's thread.
    /// - Throws: ``StartError`` when inotify cannot be set up (`inotify_init1` fails, as when
    ///   `fs.inotify.max_user_instances` is reached) or the root cannot be watched.
    package init(
        root: String,
        excluded: [String] = [],
        hidden: Bool = false,
        maxWatches: Int = 65_536,
        quiet: Duration = .milliseconds(100),
        onChange: @escaping @Sendable ([String]) -> Void,
        onProblem: @escaping @Sendable (String) -> Void
    ) throws {
        let inotify = inotify_init1(Int32(O_CLOEXEC | O_NONBLOCK))
        guard inotify >= 0 else { throw StartError(description: "inotify_init1: \(String(cString: strerror(errno)))") }
        var pipeEnds: [CInt] = [-1, -1]
        // A socket pair rather than a pipe: it can be made close-on-exec at once (CGI spawns processes).
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &pipeEnds) == 0 else {
            close(inotify)
            throw StartError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        let stop = pipeEnds[0]
        var watches = InotifyWatches(
            descriptor: inotify, root: root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root,
            excluded: Set(excluded), hidden: hidden, maxWatches: maxWatches, onProblem: onProblem
        )
        guard watches.addTree("") else {
            close(inotify)
            close(stop)
            close(pipeEnds[1])
            throw StartError(description: "cannot watch \(root): \(String(cString: strerror(errno)))")
        }
        stopDescriptor = pipeEnds[1]
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        let coalescer = ChangeCoalescer(quiet: quiet)
        // The loop owns the descriptors and the watch table from here on; it closes them when it ends.
        let owned = watches
        thread.submit { _ in
            var watches = owned
            Self.loop(&watches, stop: stop, coalescer: coalescer, onChange: onChange)
            close(watches.descriptor)
            close(stop)
        }
    }

    /// Stops watching: the thread ends after the batch in hand (if due) and closes its descriptors. Safe to
    /// call more than once.
    package func stop() {
        let first = stopped.withLockedValue { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        // Closing the write end wakes the poll (the read end hangs up).
        close(stopDescriptor)
        thread.shutdownGracefully { _ in }
    }

    deinit { stop() }

    private static func loop(
        _ watches: inout InotifyWatches, stop: CInt, coalescer: ChangeCoalescer, onChange: @Sendable ([String]) -> Void
    ) {
        var coalescer = coalescer
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var timeout: Int32 = -1
            if let deadline = coalescer.deadline {
                let left = deadline - .now
                let (seconds, attoseconds) = left.components
                timeout = max(0, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            }
            var fds = [pollfd(fd: watches.descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeout)
            if ready < 0 && errno != EINTR { return }
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 {
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(watches.descriptor, $0.baseAddress, $0.count) }
                    guard n > 0 else { break }  // EAGAIN: drained
                    let events = buffer.withUnsafeBytes { InotifyEvent.parse(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                    let now = ContinuousClock.now
                    for event in events {
                        for path in watches.handle(event) { coalescer.add(path, now: now) }
                    }
                }
            }
            if let batch = coalescer.flush(now: .now), !batch.isEmpty { onChange(batch) }
        }
    }
}

/// One `struct inotify_event` read from the descriptor.
package struct InotifyEvent: Equatable, Sendable {
    /// The watch it came from (-1 for a queue overflow).
    package var watch: Int32
    /// `IN_*` bits.
    package var mask: UInt32
    /// The name in the watched folder; empty for an event on the folder itself.
    package var name: String

    /// The events in what one `read` returned: a 16-byte header (`wd`, `mask`, `cookie`, `len`) then `len`
    /// bytes of NUL-padded name, each. A truncated tail is ignored (the kernel never splits an event).
    package static func parse(_ bytes: UnsafeRawBufferPointer) -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        var at = 0
        while at + 16 <= bytes.count {
            let wd = bytes.loadUnaligned(fromByteOffset: at, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
            guard at + 16 + length <= bytes.count else { break }
            let nameBytes = bytes[(at + 16)..<(at + 16 + length)].prefix { $0 != 0 }
            events.append(InotifyEvent(watch: wd, mask: mask, name: String(decoding: nameBytes, as: UTF8.self)))
            at += 16 + length
        }
        return events
    }
}

/// The watch table: which watch is which folder (below the root), and what an event means.
struct InotifyWatches {
    let descriptor: CInt
    let root: String
    let excluded: Set<String>
    let hidden: Bool
    let maxWatches: Int
    let onProblem: @Sendable (String) -> Void
    private(set) var folders: [Int32: String] = [:]
    private var reported = false

    static let fileEvents = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB)
    static let mask = fileEvents | UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

    init(descriptor: CInt, root: String, excluded: Set<String>, hidden: Bool, maxWatches: Int, onProblem: @escaping @Sendable (String) -> Void) {
        self.descriptor = descriptor
        self.root = root
        self.excluded = excluded
        self.hidden = hidden
        self.maxWatches = maxWatches
        self.onProblem = onProblem
    }

    /// Whether a name in a folder is watched and reported. Decided on the name's bytes, as the file server
    /// decides what it serves: `String.hasPrefix(".")` compares characters, and a dot followed by a combining
    /// mark (`.\u{301}env`) is one character that is not "." while the name is still a dotfile.
    func isWatched(name: String, path: String) -> Bool {
        if UploadStore.isTemporary(name) { return false }
        if !hidden && CanonicalPath.isHidden(name) { return false }
        return !excluded.contains(path)
    }

    /// Watches the folder at `path` (below the root, "" for the root) and every folder under it.
    /// - Returns: false when the folder itself could not be watched; the files found under it are in `found`.
    @discardableResult
    mutating func addTree(_ path: String, found: inout [String]) -> Bool {
        guard watch(path) else { return false }
        let full = path.isEmpty ? root : root + "/" + path
        guard let dir = opendir(full) else { return true }
        defer { closedir(dir) }
        var subfolders: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = path.isEmpty ? name : path + "/" + name
            guard isWatched(name: name, path: child) else { continue }
            var type = entry.pointee.d_type
            if type == UInt8(DT_UNKNOWN) {
                var st = stat()
                if lstat(full + "/" + name, &st) == 0 { type = (st.st_mode & S_IFMT) == S_IFDIR ? UInt8(DT_DIR) : UInt8(DT_REG) }
            }
            if type == UInt8(DT_DIR) { subfolders.append(child) } else { found.append("/" + child) }
        }
        for folder in subfolders { addTree(folder, found: &found) }
        return true
    }

    @discardableResult
    mutating func addTree(_ path: String) -> Bool {
        var ignored: [String] = []
        return addTree(path, found: &ignored)
    }

    /// Adds one watch.
    private mutating func watch(_ path: String) -> Bool {
        let full = path.isEmpty ? root : root + "/" + path
        if folders.count >= maxWatches && !folders.values.contains(path) {
            problem("not watching \(full) and folders after it: \(maxWatches) folders are watched already (the most allowed)")
            return false
        }
        let wd = inotify_add_watch(descriptor, full, Self.mask)
        guard wd >= 0 else {
            let code = errno
            if code == ENOSPC {
                problem("not watching \(full) and folders after it: the system's inotify watch limit is reached (raise fs.inotify.max_user_watches)")
            } else if code == ENOMEM {
                problem("not watching \(full) and folders after it: inotify is out of memory")
            }
            errno = code
            return false
        }
        folders[wd] = path
        return true
    }

    private mutating func problem(_ message: String) {
        guard !reported else { return }
        reported = true
        onProblem(message)
    }

    /// What an event means: the changed paths to report (with a leading `/`), after updating the watches.
    mutating func handle(_ event: InotifyEvent) -> [String] {
        let mask = event.mask
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            addTree("")  // creations may be lost: watch what is there now (existing watches are kept)
            return ["/"]
        }
        if mask & UInt32(IN_IGNORED) != 0 {
            folders[event.watch] = nil  // the folder is gone (or unwatched)
            return []
        }
        guard let folder = folders[event.watch], !event.name.isEmpty else { return [] }  // events on the folder itself
        let path = folder.isEmpty ? event.name : folder + "/" + event.name
        guard isWatched(name: event.name, path: path) else { return [] }
        var changed = ["/" + path]
        if mask & UInt32(IN_ISDIR) != 0 {
            if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                addTree(path, found: &changed)
            } else if mask & UInt32(IN_MOVED_FROM) != 0 {
                unwatchTree(path)  // it may have left the root; a move inside comes back as IN_MOVED_TO
            }
        }
        return changed
    }

    /// Removes the watches of the folder at `path` and those under it.
    private mutating func unwatchTree(_ path: String) {
        for (wd, folder) in folders where folder == path || folder.hasPrefix(path + "/") {
            inotify_rm_watch(descriptor, wd)
            folders[wd] = nil
        }
    }
}
#endif
