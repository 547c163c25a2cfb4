import HTTPTypes
import NIOCore
import Testing

#if canImport(Foundation)
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// A temporary site with the files the tests need, removed at the end.
final class SiteFixture {
    let dir: String
    let outside: String
    let text = String(repeating: "The quick brown fox jumps over the lazy dog.\n", count: 100)
    let binary = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-site-\(UUID().uuidString)").path
        dir = base + "/root"
        outside = base + "/outside"
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/dir/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/.git", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        func write(_ path: String, _ bytes: [UInt8]) { _ = fm.createFile(atPath: dir + "/" + path, contents: Data(bytes)) }
        write("index.html", Array("<h1>home</h1>".utf8))
        write("data.txt", Array(text.utf8))
        write("big.txt", Array(String(repeating: text, count: 30).utf8))
        write("small.txt", Array("tiny".utf8))
        write("blob.bin", binary)
        write("app.js", Array(String(repeating: "console.log('original');\n", count: 80).utf8))
        write("app.js.gz", Array("not really gzip but served as the precompressed variant".utf8))
        write("dir/<img src=x onerror=alert(1)>&\"'.txt", Array("x".utf8))
        write("dir/b.txt", Array("bb".utf8))
        write("dir/sub/deep.txt", Array("deep".utf8))
        write(".secret", Array("hidden".utf8))
        write(".git/config", Array("[core]".utf8))
        write("404.html", Array("<h1>custom 404</h1>".utf8))
        write("spa.html", Array("<div id=app></div>".utf8))
        _ = fm.createFile(atPath: outside + "/secret.txt", contents: Data("outside the root".utf8))
        try fm.createSymbolicLink(atPath: dir + "/link-in.txt", withDestinationPath: dir + "/data.txt")
        try fm.createSymbolicLink(atPath: dir + "/link-out.txt", withDestinationPath: outside + "/secret.txt")
        try fm.createSymbolicLink(atPath: dir + "/link-out-dir", withDestinationPath: outside)
    }

    deinit { try? FileManager.default.removeItem(atPath: String(dir.dropLast("/root".count))) }

    func server(_ configure: (inout FileServerOptions) -> Void = { _ in }) throws -> FileServer {
        var options = FileServerOptions()
        configure(&options)
        return try FileServer(root: dir, options: options)
    }
}

/// Calls a file server as the server would, turning thrown HTTPErrors into their responses.
func get(_ server: some HTTPResponder, _ target: String, method: HTTPRequest.Method = .get, _ fields: [HTTPField.Name: String] = [:]) async throws -> (Response, ByteBuffer) {
    var request = Request(method: method, target: target)
    for (name, value) in fields { request.headerFields[name] = value }
    let response: Response
    do {
        response = try await server.respond(to: request)
    } catch let error as HTTPError {
        response = error.response
    }
    return (response, try await response.body.collect())
}

@Suite("FileServer", .serialized)
struct FileServerTests {
    @Test("files are served with type, length, validators and Accept-Ranges")
    func servesFiles() async throws {
        let site = try SiteFixture()
        let (r, body) = try await get(try site.server(), "/blob.bin")
        #expect(r.status == .ok)
        #expect(Array(body.readableBytesView) == site.binary)
        #expect(r.body.length == site.binary.count)
        #expect(r.headerFields[.contentType] == "application/octet-stream")
        #expect(r.headerFields[.acceptRanges] == "bytes")
        #expect(r.headerFields[.eTag]?.hasPrefix("\"") == true)
        #expect(r.headerFields[.lastModified] != nil)
    }

    @Test("a served file's ETag does not show its inode, is the same from a new server, and changes when it is rewritten")
    func servedETag() async throws {
        let site = try SiteFixture()
        let path = site.dir + "/small.txt"
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
        let first = try #require(try await get(try site.server(), "/small.txt").0.headerFields[.eTag])
        #expect(!first.contains(String(inode, radix: 16)), "\(first) shows inode \(String(inode, radix: 16))")
        let again = try #require(try await get(try site.server(), "/small.txt").0.headerFields[.eTag])
        #expect(again == first, "a new server (a restart) gave \(again), the first \(first)")
        try Data("tinier".utf8).write(to: URL(fileURLWithPath: path))
        let rewritten = try #require(try await get(try site.server(), "/small.txt").0.headerFields[.eTag])
        #expect(rewritten != first, "rewritten, still \(first)")
    }

    @Test("traversal payloads never leave the root", arguments: [
        "/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/dir/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt", "/..%5coutside%5csecret.txt", "/dir\\..\\..\\outside\\secret.txt",
        "/%252e%252e/outside/secret.txt", "/%c0%ae%c0%ae/outside/secret.txt", "/data.txt%00.html",
        "/link-out.txt", "/link-out-dir/secret.txt", "//outside/secret.txt",
    ])
    func traversal(_ target: String) async throws {
        let site = try SiteFixture()
        let (r, body) = try await get(try site.server(), target)
        #expect(r.status == .badRequest || r.status == .notFound, "\(target): \(r.status)")
        #expect(!String(buffer: body).contains("outside the root"), "\(target) leaked the file outside the root")
    }

    @Test("symlinks inside the root are followed; outside only with followSymlinks")
    func symlinks() async throws {
        let site = try SiteFixture()
        #expect(try await get(try site.server(), "/link-in.txt").0.status == .ok)
        let (r, body) = try await get(try site.server { $0.followSymlinks = true }, "/link-out.txt")
        #expect(r.status == .ok)
        #expect(String(buffer: body) == "outside the root")
    }

    @Test("dotfiles are 404 unless hidden is on")
    func dotfiles() async throws {
        let site = try SiteFixture()
        #expect(try await get(try site.server(), "/.secret").0.status == .notFound)
        #expect(try await get(try site.server(), "/.git/config").0.status == .notFound)
        #expect(try await get(try site.server { $0.hidden = true }, "/.secret").1 == ByteBuffer(string: "hidden"))
    }

    @Test("a folder redirects to its slash form, query kept; index.html is served; other folders list")
    func folders() async throws {
        let site = try SiteFixture()
        let server = try site.server()
        let (redirect, _) = try await get(server, "/dir?sort=size")
        #expect(redirect.status == .movedPermanently)
        #expect(redirect.headerFields[.location] == "/dir/?sort=size")
        #expect(try await get(server, "/").1 == ByteBuffer(string: "<h1>home</h1>"))
        let (listing, html) = try await get(server, "/dir/")
        #expect(listing.headerFields[.contentType] == "text/html; charset=utf-8")
        let page = String(buffer: html)
        #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;.txt"))
        #expect(!page.contains("<img"))
        #expect(page.contains("href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26%22%27.txt\""))
        #expect(page.range(of: "sub/")!.lowerBound < page.range(of: "b.txt")!.lowerBound, "directories first")
        #expect(try await get(try site.server { $0.listing = false }, "/dir/").0.status == .notFound)
        #expect(try await get(server, "/data.txt/").0.status == .notFound)
    }

    @Test("listings sort by name, size or time and answer JSON to Accept: application/json")
    func listingSortAndJSON() async throws {
        let site = try SiteFixture()
        let server = try site.server()
        let (_, bySizeDesc) = try await get(server, "/dir/?sort=size&order=desc")
        let page = String(buffer: bySizeDesc)
        #expect(page.range(of: "b.txt")!.lowerBound < page.range(of: "alert")!.lowerBound, "2 bytes before 1 byte")
        let (json, body) = try await get(server, "/dir/", [.accept: "application/json"])
        #expect(json.headerFields[.contentType] == "application/json")
        let decoded = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        let entries = decoded?["entries"] as? [[String: Any]]
        #expect(entries?.first?["name"] as? String == "sub")
        #expect(entries?.first?["type"] as? String == "directory")
        #expect(entries?.count == 3)
    }

    @Test("methods other than GET and HEAD are 405 with Allow")
    func methodNotAllowed() async throws {
        let site = try SiteFixture()
        let (r, _) = try await get(try site.server(), "/data.txt", method: .post)
        #expect(r.status == .methodNotAllowed)
        #expect(r.headerFields[.allow] == "GET, HEAD")
    }

    @Test("conditional GETs: 304 for a matching ETag or date, 412 for a failed If-Match")
    func conditionals() async throws {
        let site = try SiteFixture()
        let server = try site.server()
        let (first, _) = try await get(server, "/blob.bin")
        let etag = try #require(first.headerFields[.eTag])
        let modified = try #require(first.headerFields[.lastModified])
        let (cached, body) = try await get(server, "/blob.bin", [.ifNoneMatch: etag])
        #expect(cached.status == .notModified)
        #expect(body.readableBytes == 0)
        #expect(cached.headerFields[.eTag] == etag)
        #expect(try await get(server, "/blob.bin", [.ifModifiedSince: modified]).0.status == .notModified)
        #expect(try await get(server, "/blob.bin", [.ifMatch: "\"nope\""]).0.status == .preconditionFailed)
        #expect(try await get(server, "/blob.bin", [.ifNoneMatch: "\"other\""]).0.status == .ok)
    }

    @Test("ranges: single, suffix, open, multipart, If-Range, and 416")
    func ranges() async throws {
        let site = try SiteFixture()
        let server = try site.server()
        let bin = site.binary
        let (single, one) = try await get(server, "/blob.bin", [.range: "bytes=10-19"])
        #expect(single.status == .partialContent)
        #expect(single.headerFields[.contentRange] == "bytes 10-19/100000")
        #expect(Array(one.readableBytesView) == Array(bin[10..<20]))
        #expect(Array(try await get(server, "/blob.bin", [.range: "bytes=-5"]).1.readableBytesView) == Array(bin[99_995...]))
        #expect(try await get(server, "/blob.bin", [.range: "bytes=99990-"]).1.readableBytes == 10)
        let (multi, parts) = try await get(server, "/blob.bin", [.range: "bytes=0-1,1000-1001"])
        #expect(multi.status == .partialContent)
        let type = try #require(multi.headerFields[.contentType])
        #expect(type.hasPrefix("multipart/byteranges; boundary="))
        #expect(multi.body.length == parts.readableBytes, "the announced length matches the body")
        let text = String(decoding: parts.readableBytesView, as: UTF8.self)
        #expect(text.contains("Content-Range: bytes 0-1/100000"))
        #expect(text.contains("Content-Range: bytes 1000-1001/100000"))
        #expect(text.hasSuffix("--\r\n"))
        let (unsatisfiable, _) = try await get(server, "/blob.bin", [.range: "bytes=200000-"])
        #expect(unsatisfiable.status == .rangeNotSatisfiable)
        #expect(unsatisfiable.headerFields[.contentRange] == "bytes */100000")
        let (stale, whole) = try await get(server, "/blob.bin", [.range: "bytes=0-1", .ifRange: "\"old\""])
        #expect(stale.status == .ok)
        #expect(whole.readableBytes == 100_000)
    }

    @Test("gzip: compressible files above the threshold are compressed on the fly and inflate to the original")
    func gzipOnTheFly() async throws {
        let site = try SiteFixture()
        let server = try site.server()
        let (r, body) = try await get(server, "/data.txt", [.acceptEncoding: "gzip, deflate"])
        #expect(r.headerFields[.contentEncoding] == "gzip")
        #expect(r.headerFields[.vary] == "Accept-Encoding")
        #expect(r.body.length == body.readableBytes, "a small file's gzip form is made once, with its length")
        #expect(r.headerFields[.eTag]?.hasPrefix("W/") == true)
        #expect(body.readableBytes < site.text.utf8.count / 5)
        #expect(gunzip(body) == Array(site.text.utf8))
        let (big, bigBody) = try await get(server, "/big.txt", [.acceptEncoding: "gzip"])
        #expect(big.headerFields[.contentEncoding] == "gzip")
        #expect(big.body.length == nil, "a large file is compressed as it is read, and sent chunked")
        #expect(gunzip(bigBody) == Array(String(repeating: site.text, count: 30).utf8))
        #expect(try await get(server, "/data.txt", [.acceptEncoding: "gzip;q=0"]).0.headerFields[.contentEncoding] == nil)
        #expect(try await get(server, "/small.txt", [.acceptEncoding: "gzip"]).0.headerFields[.contentEncoding] == nil)
        #expect(try await get(server, "/blob.bin", [.acceptEncoding: "gzip"]).0.headerFields[.contentEncoding] == nil)
        let (ranged, _) = try await get(server, "/data.txt", [.acceptEncoding: "gzip", .range: "bytes=0-9"])
        #expect(ranged.headerFields[.contentEncoding] == nil, "never compress a Range answer")
        #expect(ranged.status == .partialContent)
        #expect(try await get(try site.server { $0.gzip = false }, "/data.txt", [.acceptEncoding: "gzip"]).0.headerFields[.contentEncoding] == nil)
        let etag = try #require(r.headerFields[.eTag])
        #expect(try await get(server, "/data.txt", [.acceptEncoding: "gzip", .ifNoneMatch: etag]).0.status == .notModified)
    }

    @Test("a precompressed NAME.gz is sent instead, with its length and Content-Encoding: gzip")
    func precompressed() async throws {
        let site = try SiteFixture()
        let (r, body) = try await get(try site.server(), "/app.js", [.acceptEncoding: "gzip"])
        #expect(r.headerFields[.contentEncoding] == "gzip")
        #expect(r.headerFields[.contentType] == "text/javascript; charset=utf-8")
        #expect(String(buffer: body) == "not really gzip but served as the precompressed variant")
        #expect(r.body.length == body.readableBytes)
        let (plain, plainBody) = try await get(try site.server(), "/app.js")
        #expect(plain.headerFields[.contentEncoding] == nil)
        #expect(String(buffer: plainBody).hasPrefix("console.log"))
    }

    @Test("a precompressed sibling is served whatever the file's size and type: a 14-byte app.js with its .br, an image with its .gz")
    func precompressedSiblingOfSmallOrIncompressibleFile() async throws {
        let site = try SiteFixture()
        func write(_ path: String, _ text: String) {
            _ = FileManager.default.createFile(atPath: site.dir + "/" + path, contents: Data(text.utf8))
        }
        write("tiny.js", "alert('tiny');")  // 14 bytes, under the on-the-fly gzip threshold
        write("tiny.js.br", "brotli bytes")
        write("photo.png", "not compressible")
        write("photo.png.gz", "gzip bytes of a png")
        let server = try site.server()
        let (br, brBody) = try await get(server, "/tiny.js", [.acceptEncoding: "gzip, br"])
        #expect(br.headerFields[.contentEncoding] == "br")
        #expect(br.headerFields[.vary] == "Accept-Encoding")
        #expect(br.headerFields[.contentType] == "text/javascript; charset=utf-8")
        #expect(String(buffer: brBody) == "brotli bytes")
        let (gz, gzBody) = try await get(server, "/photo.png", [.acceptEncoding: "gzip"])
        #expect(gz.headerFields[.contentEncoding] == "gzip")
        #expect(gz.headerFields[.contentType] == "image/png")
        #expect(String(buffer: gzBody) == "gzip bytes of a png")
        let (identity, identityBody) = try await get(server, "/tiny.js", [.acceptEncoding: "zstd"])
        #expect(identity.headerFields[.contentEncoding] == nil)
        #expect(String(buffer: identityBody) == "alert('tiny');")
    }

    @Test("404.html is the body of 404s; the SPA file answers unknown paths that accept HTML")
    func notFoundPages() async throws {
        let site = try SiteFixture()
        let (missing, page) = try await get(try site.server(), "/nope")
        #expect(missing.status == .notFound)
        #expect(String(buffer: page) == "<h1>custom 404</h1>")
        let spa = try site.server { $0.spaFallback = "spa.html" }
        let (routed, app) = try await get(spa, "/users/42", [.accept: "text/html,*/*;q=0.8"])
        #expect(routed.status == .ok)
        #expect(String(buffer: app) == "<div id=app></div>")
        #expect(try await get(spa, "/api/missing.json", [.accept: "application/json"]).0.status == .notFound)
    }

    @Test("HEAD through the whole stack gets the headers and no body")
    func headInProcess() async throws {
        let site = try SiteFixture()
        let c = try await InProcessConnection(responder: try site.server())
        try await c.send("HEAD /blob.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try #require(try await c.readResponse(head: true))
        #expect(head.headerFields[.contentLength] == "100000")
        #expect(head.body.readableBytes == 0)
        #expect(try await c.readResponse()?.text == "tiny")
    }
}
