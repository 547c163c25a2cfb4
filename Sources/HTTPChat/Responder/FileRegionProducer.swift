public import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends a range of an open file with `sendfile` and closes the file once the bytes are on the wire (or the
/// connection is gone). It owns the handle it is given.
public struct FileRegionProducer: ChatProducer {
    private let handle: NIOFileHandle
    private let range: Range<Int>
    private var written: EventLoopFuture<Void>?
    private var state = State.start

    private enum State { case start, sent, done }

    /// Takes ownership of `handle` and sends `range` of it.
    ///
    /// - Parameters:
    ///   - handle: an open file; closed by the producer.
    ///   - range: the byte range to send.
    public init(handle: NIOFileHandle, range: Range<Int>) {
        self.handle = handle
        self.range = range
    }

    /// The region (with a completion promise), then a wait for its write, then the end.
    public mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        switch state {
        case .start:
            state = .sent
            guard !range.isEmpty else { return more(context) }
            let promise = context.eventLoop.makePromise(of: Void.self)
            written = promise.futureResult
            let region = FileRegion(fileHandle: handle, readerIndex: range.lowerBound, endIndex: range.upperBound)
            return .notifying(.fileRegion(region), promise)
        case .sent:
            state = .done
            if let written {
                self.written = nil
                return .wait(written)
            }
            return more(context)
        case .done:
            try? handle.close()
            return .end
        }
    }

    /// Closes the file.
    public mutating func cancel() {
        state = .done
        try? handle.close()
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
        let (handle, size) = try await NIOThreadPool.singleton.runIfActive { () throws -> (NIOFileHandle, Int) in
            let handle = try NIOFileHandle(_deprecatedPath: path)
            do {
                let size = try handle.withUnsafeFileDescriptor { fd -> Int in
                    var st = stat()
                    guard fstat(fd, &st) == 0 else { throw IOError(errnoCode: errno, reason: "fstat") }
                    return Int(st.st_size)
                }
                return (handle, size)
            } catch {
                try? handle.close()
                throw error
            }
        }
        let whole = 0..<size
        let wanted = range.map { $0.clamped(to: whole) } ?? whole
        return ResponseBody(producer: FileRegionProducer(handle: handle, range: wanted), length: wanted.count)
    }
}
