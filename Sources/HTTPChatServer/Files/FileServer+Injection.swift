import HTTPChatCore
import HTTPTypes
import NIOCore
import NIOPosix

// MARK: - Injecting a snippet into HTML files (FileServerOptions.htmlSnippet)

extension FileServer {
    /// HTML files larger than this are served as they are, without the snippet (64 MiB): finding where the
    /// snippet goes may read the whole file (in bounded slices), once per response.
    static let injectionLimit = 64 * 1024 * 1024

    /// The slice a page from disk is read and sent in: the memory one response with the snippet holds, besides
    /// the connection's bounded output queue.
    static let injectionSlice = 64 * 1024

    /// Answers with an HTML file and the snippet inserted, or nil for a file that is not HTML (or too large),
    /// served as usual.
    ///
    /// Decisions, each for one way the page could otherwise come out wrong:
    /// - Identity only: gzip and precompressed siblings are skipped for these files, so the bytes the snippet
    ///   goes into are the file's own (a `NAME.html.gz` beside it would not hold the snippet), and no `Vary:
    ///   Accept-Encoding` is sent as the answer no longer varies.
    /// - Whole only: `Range` is ignored (200 with the whole page) and no `Accept-Ranges` is offered: the
    ///   ranges would count bytes of a page that is not the file.
    /// - Its own ETag (the file's, with a `-live` suffix): a cache holding the page without the snippet
    ///   cannot revalidate it into one with it, or the other way. Conditional requests work on it as usual.
    /// - `Content-Length` is the file's size plus the snippet's, known before reading: HEAD answers the same
    ///   fields as GET and no body.
    /// - A page from disk is streamed: the insertion point is found by reading slices back from the end, then
    ///   the page goes out a slice at a time with the snippet spliced in, each read on NIO's thread pool and
    ///   only when the client has taken the one before. One response holds a slice, not the page, and stops
    ///   reading when its client goes. A file that shrank meanwhile cuts the response (the connection is
    ///   aborted) rather than sending less than its `Content-Length`.
    func serveInjected(_ f: SharedFile, snippet: String, request: Request) -> Response? {
        guard let type = f.baseFields[.contentType], type.hasPrefix("text/html"), f.info.size <= Self.injectionLimit else { return nil }
        var fields = f.baseFields
        fields[.acceptRanges] = nil
        fields[.vary] = nil
        let validators = f.validators.variant("live")
        let size = f.info.size
        let total = size + snippet.utf8.count
        return respond(size: total, validators, fields: fields, request: request, allowRanges: false) { _, _ in
            switch f.contents {
            case .bytes(let bytes):
                return ResponseBody(bytes: Self.inject(snippet, into: bytes))
            case .descriptor(let file):
                return .stream(length: total) { writer in
                    // The raw descriptor: the cache shares the file, and its handle lends itself to one thread at
                    // a time (EBUSY while the loop or another read holds it). `file` stays open while this runs.
                    let fd = file.descriptor
                    let split = try await NIOThreadPool.singleton.runIfActive {
                        try Self.insertionOffset(fd: fd, size: size, slice: Self.injectionSlice)
                    }
                    try await Self.send(fd: fd, from: 0, to: split, to: writer)
                    try await writer.write(snippet)
                    try await Self.send(fd: fd, from: split, to: size, to: writer)
                }
            }
        }
    }

    /// Sends bytes `start..<end` of `fd` a slice at a time, each read on NIO's thread pool once the writer has
    /// room for the one before.
    private static func send(fd: CInt, from start: Int, to end: Int, to writer: BodyWriter) async throws {
        var offset = start
        while offset < end {
            let count = min(injectionSlice, end - offset)
            let at = offset
            let bytes = try await NIOThreadPool.singleton.runIfActive { () -> ByteBuffer in
                var bytes = ByteBuffer()
                try bytes.writePositionalRead(fd: fd, offset: at, count: count)  // a file that shrank throws
                return bytes
            }
            try await writer.write(bytes)
            offset += count
        }
    }

    /// Where the snippet goes in the first `size` bytes of `fd`: the offset of the last `</body` (ASCII
    /// case-insensitive), or `size` without one. Reads back from the end, `slice` bytes at a time (blocking:
    /// for the thread pool).
    static func insertionOffset(fd: CInt, size: Int, slice: Int) throws -> Int {
        let closing = closingBody
        var end = size
        while end > 0 {
            let start = max(0, end - slice)
            // Overlapping the slice after it by all but one byte of the tag, so a tag across the seam is seen.
            let readEnd = min(size, end + closing.count - 1)
            var bytes = ByteBuffer()
            try bytes.writePositionalRead(fd: fd, offset: start, count: readEnd - start)
            if let found = lastClosingBody(in: bytes.readableBytesView) { return start + found }
            end = start
        }
        return size
    }

    private static let closingBody = Array("</body".utf8)

    /// The offset in `view` (from its start) of the last `</body`, ASCII case-insensitive.
    static func lastClosingBody(in view: ByteBufferView) -> Int? {
        let closing = closingBody
        var start = view.endIndex - closing.count
        search: while start >= view.startIndex {
            for (k, byte) in closing.enumerated() {
                let b = view[start + k]
                if (b >= 0x41 && b <= 0x5A ? b | 0x20 : b) != byte {
                    start -= 1
                    continue search
                }
            }
            return start - view.startIndex
        }
        return nil
    }

    /// `html` with `snippet` inserted before its last `</body>` (ASCII case-insensitive), or appended when
    /// there is none.
    static func inject(_ snippet: String, into html: ByteBuffer) -> ByteBuffer {
        let view = html.readableBytesView
        let split = lastClosingBody(in: view).map { view.startIndex + $0 } ?? view.endIndex
        var out = ByteBuffer()
        out.reserveCapacity(html.readableBytes + snippet.utf8.count)
        out.writeBytes(view[view.startIndex..<split])
        out.writeString(snippet)
        out.writeBytes(view[split..<view.endIndex])
        return out
    }
}
