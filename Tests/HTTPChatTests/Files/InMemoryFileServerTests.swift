import HTTPTypes
import NIOCore
import Testing

#if canImport(Foundation)
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A site held in memory: nothing here touches the disk.
private func memorySite() -> InMemoryFileProvider {
    let blob = ByteBuffer(bytes: (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) })
    return InMemoryFileProvider(
        files: [
            "index.html": ByteBuffer(string: "<h1>memory</h1>"),
            "blob.bin": blob,
            "notes.txt": ByteBuffer(string: String(repeating: "note ", count: 400)),
            "docs/a.txt": ByteBuffer(string: "a"),
            "docs/bb.txt": ByteBuffer(string: "bb"),
            "docs/.env": ByteBuffer(string: "SECRET=1"),
            "404.html": ByteBuffer(string: "<h1>not here</h1>"),
        ],
        folders: ["docs/empty"]
    )
}

private func server(_ provider: InMemoryFileProvider, mountPath: String = "/", _ configure: (inout FileServerOptions) -> Void = { _ in }) -> FileServer {
    var options = FileServerOptions()
    configure(&options)
    return FileServer(provider: provider, mountPath: mountPath, options: options)
}

@Suite("FileServer over an in-memory provider")
struct InMemoryFileServerTests {
    @Test("a file is served with its type, length and validators; the root's index.html answers /")
    func servesFiles() async throws {
        let files = server(memorySite())
        let (r, body) = try await get(files, "/blob.bin")
        #expect(r.status == .ok)
        #expect(body.readableBytes == 50_000 && r.body.length == 50_000, "got \(body.readableBytes) bytes, length \(String(describing: r.body.length))")
        #expect(r.headerFields[.eTag]?.hasPrefix("\"") == true)
        #expect(r.headerFields[.lastModified] == "Mon, 01 Jan 2024 00:00:00 GMT")
        #expect(String(buffer: try await get(files, "/").1) == "<h1>memory</h1>")
        #expect(files.root == "memory:")
    }

    @Test("ranges: one, a suffix, several as multipart/byteranges laid out by ByteRanges.Multipart, and 416")
    func ranges() async throws {
        let provider = memorySite()
        let files = server(provider)
        let blob = Array(try await get(files, "/blob.bin").1.readableBytesView)

        let (one, oneBody) = try await get(files, "/blob.bin", [.range: "bytes=100-199"])
        #expect(one.status == .partialContent)
        #expect(one.headerFields[.contentRange] == "bytes 100-199/50000")
        #expect(Array(oneBody.readableBytesView) == Array(blob[100..<200]))
        #expect(Array(try await get(files, "/blob.bin", [.range: "bytes=-10"]).1.readableBytesView) == Array(blob[49_990...]))

        let (multi, parts) = try await get(files, "/blob.bin", [.range: "bytes=0-9,10000-10009"])
        #expect(multi.status == .partialContent)
        let type = try #require(multi.headerFields[.contentType])
        let boundary = String(try #require(type.split(separator: "=").last))
        let layout = ByteRanges.Multipart(ranges: [0..<10, 10000..<10010], completeLength: 50_000, partType: "application/octet-stream", boundary: boundary)
        var want: [UInt8] = []
        for piece in layout.pieces {
            switch piece {
            case .text(let t): want += Array(t.utf8)
            case .slice(let r): want += blob[r]
            }
        }
        #expect(Array(parts.readableBytesView) == want, "the body is the layout filled with the file's bytes")
        #expect(multi.body.length == layout.length)

        let (unsatisfiable, _) = try await get(files, "/blob.bin", [.range: "bytes=60000-"])
        #expect(unsatisfiable.status == .rangeNotSatisfiable)
        #expect(unsatisfiable.headerFields[.contentRange] == "bytes */50000")
    }

    @Test("conditional requests: 304 for the ETag or the date, 412 for a failed If-Match; a rewrite changes the ETag")
    func conditionals() async throws {
        let provider = memorySite()
        let files = server(provider) { $0.cacheValidity = .zero }  // see each rewrite at once
        let (first, _) = try await get(files, "/notes.txt")
        let etag = try #require(first.headerFields[.eTag])
        let modified = try #require(first.headerFields[.lastModified])
        #expect(try await get(files, "/notes.txt", [.ifNoneMatch: etag]).0.status == .notModified)
        #expect(try await get(files, "/notes.txt", [.ifModifiedSince: modified]).0.status == .notModified)
        #expect(try await get(files, "/notes.txt", [.ifMatch: "\"other\""]).0.status == .preconditionFailed)

        provider.write("notes.txt", ByteBuffer(string: "rewritten"), modified: 1_800_000_000)
        let (after, body) = try await get(files, "/notes.txt", [.ifNoneMatch: etag])
        #expect(after.status == .ok, "got \(after.status) for the old ETag after a rewrite")
        #expect(String(buffer: body) == "rewritten")
        #expect(after.headerFields[.eTag] != etag)
    }

    @Test("listings show files and folders, not hidden names, as HTML or JSON; a folder without its slash redirects")
    func listings() async throws {
        let files = server(memorySite())
        let (redirect, _) = try await get(files, "/docs")
        #expect(redirect.status == .movedPermanently)
        #expect(redirect.headerFields[.location] == "/docs/")

        let (html, page) = try await get(files, "/docs/")
        #expect(html.status == .ok)
        let text = String(buffer: page)
        #expect(text.contains("a.txt") && text.contains("bb.txt") && text.contains("empty/"), "\(text)")
        #expect(!text.contains(".env"), "a hidden name was listed")

        let (_, json) = try await get(files, "/docs/", [.accept: "application/json"])
        let decoded = try JSONSerialization.jsonObject(with: Data(json.readableBytesView)) as? [String: Any]
        let names = (decoded?["entries"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["empty", "a.txt", "bb.txt"], "got \(String(describing: names))")

        let hiddenShown = server(memorySite()) { $0.hidden = true }
        #expect(String(buffer: try await get(hiddenShown, "/docs/").1).contains(".env"))
    }

    @Test("absent, hidden and file-with-slash paths are 404 (with 404.html); a listing turned off is 404; a bad path is 400")
    func notFound() async throws {
        let files = server(memorySite())
        for target in ["/nope", "/docs/.env", "/blob.bin/", "/docs/a.txt/x"] {
            let (r, body) = try await get(files, target)
            #expect(r.status == .notFound, "\(target): got \(r.status)")
            #expect(String(buffer: body) == "<h1>not here</h1>", "\(target): \(String(buffer: body))")
        }
        let bare = server(memorySite()) { $0.notFoundPage = false; $0.listing = false }
        #expect(try await get(bare, "/docs/").0.status == .notFound)
        #expect(try await get(bare, "/nope").0.status == .notFound)
        #expect(try await get(files, "/docs/..%2f404.html").0.status == .badRequest)
        #expect(try await get(files, "/blob.bin", method: .post).0.status == .methodNotAllowed)
    }

    @Test("a mount path is matched on canonical segments; the SPA fallback comes from the provider")
    func mountAndFallback() async throws {
        let files = server(memorySite(), mountPath: "/assets") { $0.spaFallback = "index.html" }
        #expect(String(buffer: try await get(files, "/assets/docs/a.txt").1) == "a")
        #expect(String(buffer: try await get(files, "//assets/./docs/a.txt").1) == "a")
        let (routed, app) = try await get(files, "/assets/app/route", [.accept: "text/html"])
        #expect(routed.status == .ok && String(buffer: app) == "<h1>memory</h1>", "got \(routed.status)")
        #expect(try await get(files, "/other/docs/a.txt", [.accept: "application/json"]).0.status == .notFound)
    }

    @Test("a compressible file in memory is compressed once and sent with its length")
    func gzipFromMemory() async throws {
        let files = server(memorySite())
        let (r, body) = try await get(files, "/notes.txt", [.acceptEncoding: "gzip"])
        #expect(r.headerFields[.contentEncoding] == "gzip")
        #expect(r.body.length == body.readableBytes)
        #expect(gunzip(body) == Array(String(repeating: "note ", count: 400).utf8))
    }

    @Test("the provider lists, stats and removes; a removed file is 404 once the cache lets go")
    func providerItself() async throws {
        let provider = memorySite()
        #expect(try await provider.list(["docs", "a.txt"]) == nil, "a file is not a folder")
        #expect(try await provider.status(["docs", "a.txt"])?.localPath == nil)
        #expect(try await provider.status(["docs", "..", "index.html"]) == nil, "`..` climbs nowhere")
        let files = server(provider) { $0.cacheValidity = .zero }
        provider.remove("docs")
        #expect(try await get(files, "/docs/a.txt").0.status == .notFound)
        #expect(try await provider.list([])?.map(\.name).sorted() == ["404.html", "blob.bin", "index.html", "notes.txt"])
    }
}
