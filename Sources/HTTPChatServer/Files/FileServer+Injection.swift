import HTTPChatCore
import HTTPTypes
import NIOCore
import NIOPosix

// MARK: - Injecting a snippet into HTML files (FileServerOptions.htmlSnippet)

extension FileServer {
    /// HTML files larger than this are served as they are, without the snippet (64 MiB): injecting reads
    /// the whole file into memory.
    static let injectionLimit = 64 * 1024 * 1024

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
                // Read on NIO's thread pool when the body is sent (never for HEAD or 304), then sent at once.
                return .stream(length: total) { writer in
                    let bytes = try await NIOThreadPool.singleton.runIfActive { () -> ByteBuffer in
                        var bytes = ByteBuffer()
                        // The raw descriptor: the cache shares the file, and its handle lends itself to one
                        // thread at a time (EBUSY while the loop or another read holds it).
                        try bytes.writePositionalRead(fd: file.descriptor, offset: 0, count: size)
                        return bytes
                    }
                    try await writer.write(Self.inject(snippet, into: bytes))
                }
            }
        }
    }

    /// `html` with `snippet` inserted before its last `</body>` (ASCII case-insensitive), or appended when
    /// there is none.
    static func inject(_ snippet: String, into html: ByteBuffer) -> ByteBuffer {
        let view = html.readableBytesView
        let closing = Array("</body".utf8)
        var found: Int?
        var start = view.endIndex - closing.count
        search: while start >= view.startIndex {
            for (k, byte) in closing.enumerated() {
                let b = view[start + k]
                if (b >= 0x41 && b <= 0x5A ? b | 0x20 : b) != byte {
                    start -= 1
                    continue search
                }
            }
            found = start
            break
        }
        var out = ByteBuffer()
        out.reserveCapacity(html.readableBytes + snippet.utf8.count)
        let split = found ?? view.endIndex
        out.writeBytes(view[view.startIndex..<split])
        out.writeString(snippet)
        out.writeBytes(view[split..<view.endIndex])
        return out
    }
}
