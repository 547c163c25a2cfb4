public import HTTPChatCore
public import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends pieces of one open file with `sendfile`, with bytes between them (a whole file, one range, or the
/// parts of a `multipart/byteranges` body). It holds the file (``OpenFile``) until the last piece is on the
/// wire or the producer is cancelled; a producer discarded unfinished lets go of it too.
public struct FilePartsProducer: ChatProducer {
    /// A piece of the body.
    public enum Part: Sendable {
        /// Literal bytes (part headers, say).
        case bytes(ByteBuffer)
        /// A byte range of the file.
        case file(Range<Int>)
    }

    /// The file, until the end or a cancel.
    private var file: OpenFile?
    private var parts: [Part]
    private var next = 0
    private var written: EventLoopFuture<Void>?

    /// Takes ownership of `handle`.
    ///
    /// - Parameters:
    ///   - handle: an open file; closed once the producer is done with it.
    ///   - parts: what to send, in order.
    public init(handle: NIOFileHandle, parts: [Part]) {
        self.init(file: OpenFile(handle: handle), parts: parts)
    }

    /// Sends `parts` of `file`, holding it until they are sent.
    ///
    /// - Parameters:
    ///   - file: the open file; others may hold it too (it closes with its last holder).
    ///   - parts: what to send, in order.
    public init(file: OpenFile, parts: [Part]) {
        self.file = file
        self.parts = parts.filter {
            switch $0 {
            case .bytes(let b): return b.readableBytes > 0
            case .file(let r): return !r.isEmpty
            }
        }
    }

    /// The parts in order (the last one with a completion promise), a wait for that write, then the end.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if next < parts.count, let file {
            let part = parts[next]
            next += 1
            let data: IOData
            switch part {
            case .bytes(let b): data = .byteBuffer(b)
            case .file(let r):
                let handle = file.handle(on: context.eventLoop)
                data = .fileRegion(FileRegion(fileHandle: handle, readerIndex: r.lowerBound, endIndex: r.upperBound))
            }
            guard next == parts.count else {
                if case .fileRegion(let region) = data { return .fileRegion(region) }
                if case .byteBuffer(let b) = data { return .bytes(b) }
                return more(context)
            }
            let promise = context.eventLoop.makePromise(of: Void.self)
            written = promise.futureResult
            return .notifying(data, promise)
        }
        if let written {
            self.written = nil
            return .wait(written)
        }
        file = nil
        return .end
    }

    /// Lets go of the file.
    public mutating func cancel() { file = nil }
}

/// Reads a range of an open file in chunks on NIO's blocking-I/O pool and hands out bytes (for consumers
/// that need the bytes themselves, such as compression). Holds the file until the end or a cancel, and a
/// read in flight holds it until the read is done.
public struct FileReadProducer: ChatProducer {
    private var file: OpenFile?
    private var offset: Int
    private let end: Int
    private var pending: ResultBox?

    /// Takes ownership of `handle` and reads `range` of it.
    ///
    /// - Parameters:
    ///   - handle: an open file; closed once the producer is done with it.
    ///   - range: the bytes to read.
    public init(handle: NIOFileHandle, range: Range<Int>) {
        self.init(file: OpenFile(handle: handle), range: range)
    }

    /// Reads `range` of `file`, holding it until done.
    ///
    /// - Parameters:
    ///   - file: the open file; others may hold it too (it closes with its last holder).
    ///   - range: the bytes to read.
    public init(file: OpenFile, range: Range<Int>) {
        self.file = file
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    /// The next chunk (a read of the preferred chunk size), waiting for it off the loop.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if let box = pending {
            pending = nil
            switch box.take() {
            case .success(let bytes)?:
                if bytes.readableBytes == 0 {  // the file shrank: stop here
                    file = nil
                    return .end
                }
                offset += bytes.readableBytes
                return .bytes(bytes)
            case .failure?, nil:
                file = nil
                return .end
            }
        }
        guard offset < end, let file else {
            file = nil
            return .end
        }
        let count = min(max(context.preferredChunkSize, 256 * 1024), end - offset)  // fewer pool round trips
        let read = NIOThreadPool.singleton.positionalRead(
            fd: file.descriptor, offset: offset, count: count, allocator: context.allocator, eventLoop: context.eventLoop
        )
        // The read holds the file until it completes: a cancel meanwhile must not close it under the read.
        read.whenComplete { _ in withExtendedLifetime(file) {} }
        let (box, output) = ResultBox.awaiting(read)
        pending = box
        return output
    }

    /// Lets go of the file.
    public mutating func cancel() { file = nil }
}

/// What `stat` says about a file, read off the event loop.
public struct FileInfo: Sendable, Hashable {
    /// The size in bytes.
    public var size: Int
    /// Whether it is a directory.
    public var isDirectory: Bool
    /// Whether it is a regular file.
    public var isRegularFile: Bool
    /// Modification time: seconds since the epoch.
    public var mtimeSeconds: Int
    /// Modification time: the nanoseconds part.
    public var mtimeNanoseconds: Int
    /// The inode number.
    public var inode: UInt64
    /// The device the file is on (`st_dev`).
    public var device: UInt64

    /// Describes a file that is not on disk (an ``InMemoryFileProvider``'s, say).
    ///
    /// - Parameters:
    ///   - size: the size in bytes.
    ///   - isDirectory: whether it is a folder.
    ///   - mtimeSeconds: modification time, seconds since the epoch.
    ///   - mtimeNanoseconds: the nanoseconds part (default 0).
    ///   - inode: a number that identifies the file on its device.
    ///   - device: the device (default 0).
    public init(size: Int, isDirectory: Bool, mtimeSeconds: Int, mtimeNanoseconds: Int = 0, inode: UInt64, device: UInt64 = 0) {
        self.size = size
        self.isDirectory = isDirectory
        self.isRegularFile = !isDirectory
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
        self.device = device
    }

    init(_ st: stat) {
        size = Int(st.st_size)
        isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        isRegularFile = (st.st_mode & S_IFMT) == S_IFREG
        #if canImport(Darwin)
        mtimeSeconds = Int(st.st_mtimespec.tv_sec)
        mtimeNanoseconds = Int(st.st_mtimespec.tv_nsec)
        #else
        mtimeSeconds = Int(st.st_mtim.tv_sec)
        mtimeNanoseconds = Int(st.st_mtim.tv_nsec)
        #endif
        inode = UInt64(st.st_ino)
        device = UInt64(truncatingIfNeeded: st.st_dev)
    }
}

extension ResponseBody {
    /// A body sent from a file with `sendfile`, never read into memory. The file is opened on NIO's
    /// blocking-I/O thread pool, not on an event loop.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - range: a byte range of it; nil for the whole file (clipped to the file's size).
    /// - Returns: the body, with its length.
    /// - Throws: the open or stat error (a missing file throws `IOError` with `ENOENT`).
    public static func file(path: String, range: Range<Int>? = nil) async throws -> ResponseBody {
        let (handle, info) = try await FileSystem.open(path)
        let whole = 0..<info.size
        let wanted = range.map { $0.clamped(to: whole) } ?? whole
        return ResponseBody(producer: FilePartsProducer(handle: handle, parts: [.file(wanted)]), length: wanted.count)
    }
}

/// Blocking file-system calls, run on NIO's thread pool so no event loop waits on the disk.
enum FileSystem {
    /// Opens a file for reading and stats it.
    static func open(_ path: String) async throws -> (NIOFileHandle, FileInfo) {
        try await NIOThreadPool.singleton.runIfActive { () throws -> (NIOFileHandle, FileInfo) in
            let handle = try NIOFileHandle(_deprecatedPath: path)
            do {
                let info = try handle.withUnsafeFileDescriptor { fd -> FileInfo in
                    var st = stat()
                    guard fstat(fd, &st) == 0 else { throw IOError(errnoCode: errno, reason: "fstat") }
                    return FileInfo(st)
                }
                return (handle, info)
            } catch {
                try? handle.close()
                throw error
            }
        }
    }
}
