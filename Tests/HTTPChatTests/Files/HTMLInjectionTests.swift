import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
@testable import HTTPChatTesting

private let snippet = "<script>live()</script>"

private func injecting(_ files: [String: ByteBuffer], gzip: Bool = true) -> FileServer {
    var options = FileServerOptions()
    options.htmlSnippet = snippet
    options.gzip = gzip
    options.gzipMinimumSize = 10
    return FileServer(provider: InMemoryFileProvider(files: files), options: options)
}

@Suite("Injecting a snippet into HTML files (live reload)")
struct HTMLInjectionTests {
    @Test("the snippet goes before the last </body>, in any case, or at the end without one", arguments: [
        ("<p>a</p></body></html>", "<p>a</p><script>live()</script></body></html>"),
        ("<p>a</p></BODY>", "<p>a</p><script>live()</script></BODY>"),
        ("<p>\"</body>\" in text</p></Body >", "<p>\"</body>\" in text</p><script>live()</script></Body >"),
        ("<p>no body end</p>", "<p>no body end</p><script>live()</script>"),
        ("", "<script>live()</script>"),
        ("</body", "<script>live()</script></body"),
        ("</bod", "</bod<script>live()</script>"),
    ])
    func placement(html: String, want: String) {
        #expect(String(buffer: FileServer.inject(snippet, into: ByteBuffer(string: html))) == want)
    }

    @Test("an HTML file gets the snippet with an exact Content-Length, its own ETag, no ranges and no gzip")
    func htmlFile() async throws {
        let page = "<html><body>" + String(repeating: "compressible ", count: 200) + "</body></html>"
        let files = injecting(["index.html": ByteBuffer(string: page), "index.html.gz": ByteBuffer(string: "gzipped bytes")])
        let plain = FileServer(provider: InMemoryFileProvider(files: ["index.html": ByteBuffer(string: page)]))
        let (r, body) = try await get(files, "/", [.acceptEncoding: "gzip, br", .range: "bytes=0-9"])
        #expect(r.status == .ok)
        #expect(String(buffer: body) == page.replacingOccurrences(of: "</body>", with: snippet + "</body>"))
        #expect(r.body.length == page.utf8.count + snippet.utf8.count)
        #expect(r.headerFields[.contentEncoding] == nil, "an HTML page is sent identity-encoded: \(r.headerFields)")
        #expect(r.headerFields[.acceptRanges] == nil && r.headerFields[.vary] == nil)
        let etag = try #require(r.headerFields[.eTag])
        let (p, _) = try await get(plain, "/")
        #expect(etag != p.headerFields[.eTag], "the page with the snippet has the ETag of the page without it")
        // Conditional requests work with the page's own ETag, and not with the plain file's.
        #expect(try await get(files, "/", [.ifNoneMatch: etag]).0.status == .notModified)
        #expect(try await get(files, "/", [.ifNoneMatch: p.headerFields[.eTag]!]).0.status == .ok)
    }

    @Test("HEAD gets the fields GET gets (the injected length) and no body")
    func head() async throws {
        let files = injecting(["a.html": ByteBuffer(string: "<body></body>")])
        let connection = try await InProcessConnection(responder: files)
        try await connection.send("HEAD /a.html HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try #require(try await connection.readResponse(head: true))
        #expect(head.headerFields[.contentLength] == "\("<body></body>".utf8.count + snippet.utf8.count)")
        #expect(head.body.readableBytes == 0)
        try await connection.send("GET /a.html HTTP/1.1\r\nHost: x\r\n\r\n")
        let got = try #require(try await connection.readResponse())
        #expect(got.text == "<body>\(snippet)</body>")
        #expect(got.headerFields[.contentLength] == head.headerFields[.contentLength])
    }

    @Test("CSS, JavaScript, text and other files are served untouched (and still gzipped)", arguments: ["s.css", "app.js", "notes.txt", "data.json", "image.svg"])
    func otherFiles(name: String) async throws {
        let content = String(repeating: "body { color: red } </body> ", count: 20)
        let files = injecting([name: ByteBuffer(string: content)])
        let (r, body) = try await get(files, "/" + name)
        #expect(String(buffer: body) == content)
        #expect(!String(buffer: body).contains("live()"))
        let (gz, _) = try await get(files, "/" + name, [.acceptEncoding: "gzip"])
        #expect(gz.headerFields[.contentEncoding] == "gzip", "\(name): \(gz.headerFields)")
        #expect(r.status == .ok)
    }

    @Test("the 404 page and the SPA fallback get the snippet too; without the option nothing changes")
    func notFoundAndFallback() async throws {
        var options = FileServerOptions()
        options.htmlSnippet = snippet
        options.spaFallback = "app.html"
        let files = FileServer(provider: InMemoryFileProvider(files: ["404.html": ByteBuffer(string: "<body>gone</body>"), "app.html": ByteBuffer(string: "<body>app</body>")]), options: options)
        let (spa, spaBody) = try await get(files, "/route", [.accept: "text/html"])
        #expect(spa.status == .ok && String(buffer: spaBody) == "<body>app\(snippet)</body>")
        let (missing, missingBody) = try await get(files, "/nothing.png")
        #expect(missing.status == .notFound && String(buffer: missingBody) == "<body>gone\(snippet)</body>")
        let plain = FileServer(provider: InMemoryFileProvider(files: ["404.html": ByteBuffer(string: "<body>gone</body>")]))
        #expect(String(buffer: try await get(plain, "/nothing.png").1) == "<body>gone</body>")
    }

    @Test("a large HTML file on disk (sent from its descriptor otherwise) gets the snippet, with the exact length, over a connection")
    func largeFileOnDisk() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inject-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let page = "<html><body>" + String(repeating: "<p>paragraph</p>\n", count: 10_000) + "</body></html>"
        try page.write(toFile: dir + "/big.html", atomically: true, encoding: .utf8)
        var options = FileServerOptions()
        options.htmlSnippet = snippet
        let files = try FileServer(root: dir, options: options)
        let connection = try await InProcessConnection(responder: files)
        try await connection.send("GET /big.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        let got = try #require(try await connection.readResponse())
        #expect(got.status == 200)
        #expect(got.headerFields[.contentLength] == "\(page.utf8.count + snippet.utf8.count)")
        #expect(got.text == page.replacingOccurrences(of: "</body>", with: snippet + "</body>"))
        #expect(got.headerFields[.contentEncoding] == nil)
    }

    @Test("the insertion point is found reading back in slices, with a tag across every seam", arguments: [1, 2, 3, 5, 7, 64])
    func insertionOffsetAcrossSeams(slice: Int) throws {
        let pages = ["<p>a</p></body></html>", "</BODY>", "x</body", "no end here", "", "</bod", "</body></body>tail"]
        for page in pages {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("seam-\(UUID().uuidString)").path
            try page.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            let want = FileServer.lastClosingBody(in: ByteBuffer(string: page).readableBytesView) ?? page.utf8.count
            #expect(try FileServer.insertionOffset(fd: fd, size: page.utf8.count, slice: slice) == want, "\(page) in slices of \(slice)")
        }
    }

    @Test("a large page from disk is streamed a slice at a time, never whole, and is cut if the file shrinks meanwhile")
    func largePageIsStreamedInSlices() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inject-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tail = String(repeating: "<!-- after the body -->\n", count: 8_000)  // 192,000 bytes after </body>
        let page = "<html><body>" + String(repeating: "<p>paragraph</p>\n", count: 120_000) + "</body>" + tail
        try page.write(toFile: dir + "/big.html", atomically: true, encoding: .utf8)
        var options = FileServerOptions()
        options.htmlSnippet = snippet
        let files = try FileServer(root: dir, options: options)
        let response = try await files.respond(to: Request(method: .get, target: "/big.html"))
        guard case .stream(let length, let write) = response.body.storage else {
            Issue.record("the page is not streamed: \(response.body.storage)")
            return
        }
        #expect(length == page.utf8.count + snippet.utf8.count)
        let sink = ChunkRecorder()
        try await write(BodyWriter(sink))
        #expect(sink.largest <= FileServer.injectionSlice, "a chunk of \(sink.largest) bytes")
        #expect(String(buffer: sink.bytes) == page.replacingOccurrences(of: "</body>", with: snippet + "</body>"))

        // The same response again after the file lost half its bytes: it fails instead of ending short.
        let again = try await files.respond(to: Request(method: .get, target: "/big.html"))
        guard case .stream(_, let writeAgain) = again.body.storage else { return }
        #expect(truncate(dir + "/big.html", off_t(page.utf8.count / 2)) == 0)
        await #expect(throws: (any Error).self) { try await writeAgain(BodyWriter(ChunkRecorder())) }
    }
}

/// Keeps a streamed body and the size of its largest write.
private final class ChunkRecorder: BodySink {
    private let state = NIOLockedValueBox((bytes: ByteBuffer(), largest: 0))
    var bytes: ByteBuffer { state.withLockedValue { $0.bytes } }
    var largest: Int { state.withLockedValue { $0.largest } }
    func write(_ bytes: ByteBuffer) async throws {
        var bytes = bytes
        state.withLockedValue {
            $0.largest = max($0.largest, bytes.readableBytes)
            $0.bytes.writeBuffer(&bytes)
        }
    }
}
