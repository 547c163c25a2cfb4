public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// asynchat's read loop with the socket taken out: bytes in, ``ChatEvent``s out.
///
/// The framer owns the input that has been received but not yet framed. ``append(_:)`` adds bytes;
/// ``next()`` returns one event at a time, or `nil` when more input is needed. Because events are pulled one
/// by one, the consumer may change ``terminator`` after any event (typically after `.terminator`), and the
/// bytes already buffered are framed by the new terminator, as in asynchat.
///
/// Delimited frames are delivered eagerly: the bytes before a delimiter are handed out as they arrive, except
/// for a tail that could be the start of a delimiter split across reads (asynchat's `find_prefix_at_end`).
/// Data events are slices of the received buffers, so framing copies nothing unless a delimiter straddles
/// two reads.
///
/// Unlike asynchat the input is bounded: a delimited frame longer than ``maxDelimitedLength`` makes
/// ``next()`` hand out the frame's first ``maxDelimitedLength`` bytes and then throw
/// ``ChatFramingError/delimiterNotFound(limit:)``, and keep throwing until a new terminator is set.
///
/// ```swift
/// var framer = ChatFramer(terminator: .delimiter("\r\n"))
/// framer.append(ByteBuffer(string: "HELO a\r\nQU"))
/// while let event = try framer.next() { print(event) }   // .data("HELO a"), .terminator, .data("QU")
/// ```
public struct ChatFramer: Sendable {
    /// The current terminator. Setting it validates it (an empty delimiter or a negative count traps),
    /// starts a new frame and clears a ``ChatFramingError``. Reading a count terminator gives the bytes still
    /// to come, as asynchat's `get_terminator` does; once it has fired it reads `.none`.
    public var terminator: Terminator {
        get {
            switch mode {
            case .delimiter(let d): return .delimiter(d)
            case .count(let remaining): return .count(remaining)
            case .none: return .none
            }
        }
        set {
            newValue.validate()
            switch newValue {
            case .delimiter(let d): mode = .delimiter(d)
            case .count(let n): mode = .count(remaining: n)
            case .none: mode = .none
            }
            frameLength = 0
            failed = false
            delimiterAtReader = false
        }
    }

    /// The most bytes of content a delimited frame may have before its delimiter. Default 64 KiB.
    public var maxDelimitedLength: Int

    /// Bytes received but not yet handed out.
    public var bufferedByteCount: Int { buffer.readableBytes }

    private enum Mode: Sendable {
        case delimiter([UInt8])
        case count(remaining: Int)
        case none
    }

    private var mode: Mode
    private var buffer: ByteBuffer
    /// Content bytes already delivered in the current delimited frame.
    private var frameLength = 0
    private var failed = false
    /// The last data event ended right before a delimiter that starts at the reader index: the next call
    /// ends the frame without scanning again.
    private var delimiterAtReader = false

    /// Creates a framer.
    ///
    /// - Parameters:
    ///   - terminator: the first terminator; `.none` collects everything.
    ///   - maxDelimitedLength: the bound on a delimited frame's content, in bytes (default 65,536).
    public init(terminator: Terminator = .none, maxDelimitedLength: Int = 64 * 1024) {
        terminator.validate()
        precondition(maxDelimitedLength >= 0, "maxDelimitedLength must not be negative")
        switch terminator {
        case .delimiter(let d): mode = .delimiter(d)
        case .count(let n): mode = .count(remaining: n)
        case .none: mode = .none
        }
        self.maxDelimitedLength = maxDelimitedLength
        self.buffer = ByteBuffer()
    }

    /// Adds received bytes after those already buffered. An empty buffer is ignored.
    ///
    /// - Parameter bytes: the bytes read from the peer, in order.
    public mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if buffer.readableBytes == 0 {
            buffer = bytes  // adopt the read buffer: no copy on the common path
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// Drops every buffered byte (asynchat's `discard_buffers`, input side). The terminator is kept and a new
    /// frame begins.
    public mutating func discardInput() {
        buffer = ByteBuffer()
        frameLength = 0
        delimiterAtReader = false
    }

    /// Takes out every buffered byte without framing it, for a consumer that leaves chat framing
    /// (a protocol upgrade, say). The framer is empty afterwards.
    ///
    /// - Returns: the unframed bytes, possibly empty.
    public mutating func takeBufferedBytes() -> ByteBuffer {
        defer {
            buffer = ByteBuffer()
            delimiterAtReader = false
        }
        return buffer
    }

    /// The next event, or `nil` when more input is needed.
    ///
    /// Call it again after each event; change ``terminator`` between calls to frame the following bytes
    /// differently. A `.data` event is never empty.
    ///
    /// - Returns: the next event, or `nil` when the buffered input holds no complete event.
    /// - Throws: ``ChatFramingError/delimiterNotFound(limit:)`` when a delimited frame outgrows
    ///   ``maxDelimitedLength``; it is thrown again on every call until ``terminator`` is set.
    public mutating func next() throws(ChatFramingError) -> ChatEvent? {
        if failed { throw .delimiterNotFound(limit: maxDelimitedLength) }
        switch mode {
        case .none:
            guard buffer.readableBytes > 0 else { return drained() }
            return .data(buffer.readSlice(length: buffer.readableBytes)!)

        case .count(let remaining):
            if remaining == 0 {
                mode = .none
                return .terminator
            }
            let available = buffer.readableBytes
            guard available > 0 else { return drained() }
            let take = Swift.min(remaining, available)
            mode = .count(remaining: remaining - take)
            return .data(buffer.readSlice(length: take)!)

        case .delimiter(let delimiter):
            if delimiterAtReader {
                delimiterAtReader = false
                buffer.moveReaderIndex(forwardBy: delimiter.count)
                frameLength = 0
                return .terminator
            }
            let scan = Self.scan(buffer, for: delimiter)
            if let at = scan.match {
                if frameLength + at > maxDelimitedLength { return try overLimit() }
                if at > 0 {
                    frameLength += at
                    delimiterAtReader = true
                    return .data(buffer.readSlice(length: at)!)
                }
                buffer.moveReaderIndex(forwardBy: delimiter.count)
                frameLength = 0
                return .terminator
            }
            // No whole delimiter: everything before a possible delimiter prefix at the end is frame content.
            let safe = scan.safeLength
            if frameLength + safe > maxDelimitedLength { return try overLimit() }
            guard safe > 0 else { return drained() }
            frameLength += safe
            return .data(buffer.readSlice(length: safe)!)
        }
    }

    /// Out of input: `nil`. When every buffered byte has been handed out, the buffer also lets go of its
    /// storage (a whole read buffer, which an idle keep-alive connection would otherwise hold until its next
    /// read; slices handed out keep it alive only as long as their holders do). `append` adopts the next read.
    private mutating func drained() -> ChatEvent? {
        if buffer.readableBytes == 0 && buffer.capacity > 0 { buffer = .noBytes }
        return nil
    }

    /// The frame is longer than the limit: hand out what still fits (so the consumer sees the frame's start,
    /// to tell a long first line from a long head, say), then fail.
    private mutating func overLimit() throws(ChatFramingError) -> ChatEvent? {
        let room = maxDelimitedLength - frameLength
        if room > 0 {
            frameLength += room
            return .data(buffer.readSlice(length: room)!)
        }
        return try fail()
    }

    private mutating func fail() throws(ChatFramingError) -> ChatEvent? {
        failed = true
        throw .delimiterNotFound(limit: maxDelimitedLength)
    }

    /// Where `delimiter` first occurs in `buffer`'s readable bytes, or, when it does not, how many leading
    /// bytes cannot be part of it (everything before the longest tail that is a prefix of the delimiter).
    @inline(__always)
    static func scan(_ buffer: ByteBuffer, for delimiter: [UInt8]) -> (match: Int?, safeLength: Int) {
        buffer.withUnsafeReadableBytes { haystack -> (Int?, Int) in
            delimiter.withUnsafeBufferPointer { needle -> (Int?, Int) in
                let n = haystack.count
                let m = needle.count
                guard n > 0, let base = haystack.baseAddress else { return (nil, 0) }
                let first = Int32(needle[0])
                var from = 0
                while from < n {
                    guard let hit = memchr(base + from, first, n - from) else { break }
                    let at = base.distance(to: UnsafeRawPointer(hit))
                    let tail = n - at
                    if tail >= m {
                        if m == 1 || memcmp(base + at + 1, needle.baseAddress! + 1, m - 1) == 0 {
                            return (at, at)
                        }
                    } else if memcmp(base + at, needle.baseAddress!, tail) == 0 {
                        return (nil, at)  // a delimiter may start here and finish in the next read
                    }
                    from = at + 1
                }
                return (nil, n)
            }
        }
    }
}
