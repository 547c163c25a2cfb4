import HTTPTypes
import NIOCore
import NIOPosix
import Testing

#if canImport(Foundation)
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// The bitwise CRC-32 (IEEE, reflected): slow, obviously right, and not zlib's.
private func referenceCRC(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// What a test reads back from an archive: each entry's name, stored CRC and bytes (found through the central
/// directory and the local header, as unzip does). It checks the structure as it goes.
private struct ReadEntry: Equatable {
    var name: String
    var crc: UInt32
    var bytes: [UInt8]
}

private func readArchive(_ body: ByteBuffer) throws -> [ReadEntry] {
    let z = Array(body.readableBytesView)
    func u16(_ at: Int) -> Int { Int(z[at]) | Int(z[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    let eocd = z.count - 22
    try #require(eocd >= 0 && u32(eocd) == 0x0605_4B50, "an end record at the end")
    let count = u16(eocd + 10)
    var at = u32(eocd + 16)
    #expect(at + u32(eocd + 12) == eocd, "the central directory ends where the end record starts")
    var out: [ReadEntry] = []
    for _ in 0..<count {
        try #require(u32(at) == 0x0201_4B50, "a central record at \(at)")
        let flags = u16(at + 8)
        let crc = UInt32(u32(at + 16))
        let size = u32(at + 24)
        let nameLength = u16(at + 28)
        let extra = u16(at + 30)
        let local = u32(at + 42)
        let name = String(decoding: z[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
        #expect(flags & 0x0800 != 0, "UTF-8 names: \(name)")
        #expect(u16(at + 10) == 0, "stored: \(name)")
        try #require(u32(local) == 0x0403_4B50, "a local header for \(name)")
        let data = local + 30 + u16(local + 26) + u16(local + 28)
        let bytes = Array(z[data..<(data + size)])
        if !name.hasSuffix("/") {
            #expect(flags & 0x0008 != 0, "a data descriptor for \(name)")
            #expect(u32(data + size) == 0x0807_4B50 && UInt32(u32(data + size + 4)) == crc && u32(data + size + 8) == size)
        }
        out.append(ReadEntry(name: name, crc: crc, bytes: bytes))
        at += 46 + nameLength + extra
    }
    return out
}

private func site() -> InMemoryFileProvider {
    let blob = ByteBuffer(bytes: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
    return InMemoryFileProvider(
        files: [
            "docs/a.txt": ByteBuffer(string: "a"),
            "docs/bb.txt": ByteBuffer(string: "bb"),
            "docs/.env": ByteBuffer(string: "SECRET=1"),
            "docs/blob.bin": blob,
            "docs/sub/é.txt": ByteBuffer(string: "accent"),
            "top.txt": ByteBuffer(string: "top"),
        ],
        folders: ["docs/empty", "docs/.hidden-folder"]
    )
}

private func server(_ provider: InMemoryFileProvider, _ configure: (inout FileServerOptions) -> Void = { _ in }) -> FileServer {
    var options = FileServerOptions()
    configure(&options)
    return FileServer(provider: provider, options: options)
}

@Suite("FileServer: folders as ZIP archives")
struct FileServerArchiveTests {
    @Test("?download=zip answers the folder as a ZIP: names, contents and CRCs, empty folders, no hidden names, exact length")
    func archive() async throws {
        let provider = site()
        let (r, body) = try await get(server(provider), "/docs/?download=zip")
        #expect(r.status == .ok)
        #expect(r.headerFields[.contentType] == "application/zip")
        #expect(r.headerFields[.contentDisposition] == "attachment; filename=\"docs.zip\"")
        #expect(r.headerFields[.acceptRanges] == "bytes")
        #expect(r.body.length == body.readableBytes, "Content-Length \(String(describing: r.body.length)), body \(body.readableBytes)")
        let entries = try readArchive(body)
        #expect(entries.map(\.name) == ["a.txt", "bb.txt", "blob.bin", "empty/", "sub/", "sub/é.txt"])
        for e in entries where !e.name.hasSuffix("/") {
            let want = Array(try #require(try await provider.open(e.path, memoryLimit: .max).bytes).readableBytesView)
            #expect(e.bytes == want, "\(e.name)'s bytes")
            #expect(e.crc == referenceCRC(want), "\(e.name)'s CRC: got \(String(e.crc, radix: 16))")
        }
    }

    @Test("hidden names are in the archive only with the hidden option")
    func hidden() async throws {
        let (_, body) = try await get(server(site()) { $0.hidden = true }, "/docs/?download=zip")
        let names = try readArchive(body).map(\.name)
        #expect(names.contains(".env") && names.contains(".hidden-folder/"), "got \(names)")
    }

    @Test("the root's archive is download.zip for a provider not on disk; a HEAD has the same length; no slash redirects")
    func rootAndHead() async throws {
        let files = server(site())
        let (whole, body) = try await get(files, "/?download=zip")
        #expect(whole.headerFields[.contentDisposition] == "attachment; filename=\"download.zip\"")
        #expect(try readArchive(body).map(\.name).first == "docs/")
        // The server sends no body for HEAD (ResponsePlan); the length is the GET's.
        let (head, _) = try await get(files, "/?download=zip", method: .head)
        #expect(head.status == .ok && head.body.length == body.readableBytes)
        let (redirect, _) = try await get(files, "/docs?download=zip")
        #expect(redirect.status == .movedPermanently && redirect.headerFields[.location] == "/docs/?download=zip")
    }

    @Test("a resumed download: the first part plus the rest is the whole, also when the CRCs are not known yet")
    func resumed() async throws {
        let provider = site()
        let (_, whole) = try await get(server(provider), "/docs/?download=zip")
        let all = Array(whole.readableBytesView)
        // Cut inside blob.bin's bytes; each part from a fresh server, so nothing is cached.
        for cut in [10, 200, 150_000, all.count - 30, all.count - 1] {
            let (first, head) = try await get(server(provider), "/docs/?download=zip", [.range: "bytes=0-\(cut - 1)"])
            let (second, tail) = try await get(server(provider), "/docs/?download=zip", [.range: "bytes=\(cut)-", .ifRange: try #require(first.headerFields[.eTag])])
            #expect(first.status == .partialContent && second.status == .partialContent)
            #expect(second.headerFields[.contentRange] == "bytes \(cut)-\(all.count - 1)/\(all.count)")
            #expect(Array(head.readableBytesView) + Array(tail.readableBytesView) == all, "cut at \(cut)")
        }
        let (suffix, end) = try await get(server(provider), "/docs/?download=zip", [.range: "bytes=-100"])
        #expect(suffix.status == .partialContent && Array(end.readableBytesView) == Array(all.suffix(100)))
        let (multi, parts) = try await get(server(provider), "/docs/?download=zip", [.range: "bytes=0-9,-10"])
        #expect(multi.status == .partialContent && multi.body.length == parts.readableBytes)
        #expect(multi.headerFields[.contentType]?.hasPrefix("multipart/byteranges") == true)
    }

    @Test("validators: a stable strong ETag, 304, If-Range with another tag sends the whole, a change makes a new ETag")
    func validators() async throws {
        let provider = site()
        let files = server(provider)
        let (r, _) = try await get(files, "/docs/?download=zip")
        let etag = try #require(r.headerFields[.eTag])
        #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
        #expect(try await get(files, "/docs/?download=zip").0.headerFields[.eTag] == etag)
        #expect(try await get(files, "/docs/?download=zip", [.ifNoneMatch: etag]).0.status == .notModified)
        let (stale, _) = try await get(files, "/docs/?download=zip", [.range: "bytes=10-", .ifRange: "\"other\""])
        #expect(stale.status == .ok)
        provider.write("docs/bb.txt", ByteBuffer(string: "changed"))
        #expect(try await get(files, "/docs/?download=zip").0.headerFields[.eTag] != etag)
    }

    @Test("a file that changes between planning and sending cuts the archive short")
    func changeAborts() async throws {
        let provider = site()
        let response = try await server(provider).respond(to: Request(method: .get, target: "/docs/?download=zip"))
        provider.write("docs/bb.txt", ByteBuffer(string: "bb"))  // same bytes and size, a new identity
        await #expect(throws: BodyWriterError.aborted) { try await response.body.collect() }
    }

    @Test("listings link the archive; with archive off ?download=zip is the listing; with listing off, 404")
    func options() async throws {
        let (listing, page) = try await get(server(site()), "/docs/")
        #expect(listing.status == .ok && String(buffer: page).contains("href=\"?download=zip\" download>") && String(buffer: page).contains("Download .zip"))
        let (off, offPage) = try await get(server(site()) { $0.archive = false }, "/docs/?download=zip")
        #expect(off.headerFields[.contentType] == "text/html; charset=utf-8")
        #expect(!String(buffer: offPage).contains("download=zip"), "no link when archives are off")
        let (none, _) = try await get(server(site()) { $0.listing = false }, "/docs/?download=zip")
        #expect(none.status == .notFound)
    }

    @Test("more entries than archiveMaxEntries is 403 with a message")
    func tooMany() async throws {
        let (r, body) = try await get(server(site()) { $0.archiveMaxEntries = 5 }, "/docs/?download=zip")
        #expect(r.status == .forbidden)
        #expect(String(buffer: body).contains("more than 5 files and folders"), "got \(String(buffer: body))")
        #expect(try await get(server(site()) { $0.archiveMaxEntries = 6 }, "/docs/?download=zip").0.status == .ok)
    }

    @Test("on disk: links leaving the root are left out, links inside are followed, dotfiles skipped")
    func onDisk() async throws {
        let fixture = try SiteFixture()
        let (r, body) = try await get(try fixture.server(), "/?download=zip")
        #expect(r.status == .ok)
        let names = try readArchive(body).map(\.name)
        #expect(names.contains("link-in.txt") && names.contains("dir/sub/deep.txt") && names.contains("blob.bin"))
        #expect(!names.contains("link-out.txt") && !names.contains { $0.hasPrefix("link-out-dir") }, "got \(names)")
        #expect(!names.contains { $0.hasPrefix(".") }, "got \(names)")
        let blob = try #require(try readArchive(body).first { $0.name == "blob.bin" })
        #expect(blob.bytes == fixture.binary && blob.crc == referenceCRC(fixture.binary))
        let root = URL(fileURLWithPath: fixture.dir).resolvingSymlinksInPath().lastPathComponent
        #expect(r.headerFields[.contentDisposition] == "attachment; filename=\"\(root).zip\"")
    }
}

/// Descriptors this process has open on files under `dir` (other tests' are elsewhere).
private func descriptors(under dir: String) -> Int {
    let real = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return fds.filter { fd in
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd)) ?? ""
        return target.hasPrefix(real + "/")
    }.count
}

@Suite("FileServer: ZIP archives and descriptors", .serialized)
struct FileServerArchiveDescriptorTests {
    @Test("an archive dropped part-way lets go of every descriptor it opened (the file, and its read in flight)")
    func droppedPartWay() async throws {
        let fixture = try SiteFixture()
        _ = FileManager.default.createFile(atPath: fixture.dir + "/dir/large.bin", contents: Data(count: 20 << 20))
        let response = try await fixture.server().respond(to: Request(method: .get, target: "/dir/?download=zip"))
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let context = ChatProducerContext(allocator: ByteBufferAllocator(), eventLoop: loop, preferredChunkSize: 64 * 1024)
        do {
            guard case .producer(var producer, _) = response.body.storage else {
                Issue.record("the archive is not a producer")
                return
            }
            var pieces = 0
            pulling: for _ in 0..<100 {
                switch producer.more(context) {
                case .wait(let future): try? await future.get()
                case .bytes(let b):
                    if b.readableBytes == ZipArchiveProducer.readChunk { pieces += 1 }
                    if pieces == 2 { break pulling }  // inside large.bin, the next piece's read in flight
                case .notifying(_, let promise): promise.succeed(())
                case .end, .abort: break pulling
                default: continue
                }
            }
            #expect(pieces == 2, "two pieces of large.bin were sent")
            #expect(descriptors(under: fixture.dir) >= 1, "large.bin is open while it is sent")
            producer.cancel()
        }
        var left = descriptors(under: fixture.dir)
        for _ in 0..<100 where left > 0 {  // a step in flight lets go when it ends
            try await Task.sleep(for: .milliseconds(20))
            left = descriptors(under: fixture.dir)
        }
        #expect(left == 0, "descriptors still open under the site: \(left)")
    }
}

extension ReadEntry {
    /// The provider path of an entry of `/docs/`'s archive.
    var path: [String] { ["docs"] + name.split(separator: "/").map(String.init) }
}

extension FileLookup {
    var bytes: ByteBuffer? {
        if case .file(let f) = self, case .bytes(let b) = f.contents { return b }
        return nil
    }
}
