import HTTPTypes
import NIOCore
import NIOPosix
import Testing

#if canImport(Foundation)
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Descriptors this process has open on files under `dir`, read from /proc/self/fd (other tests running in
/// parallel open their own files, never these).
private func openDescriptors(under dir: String) -> Int {
    guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
    return fds.filter { fd in
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/" + fd, &buffer, buffer.count - 1)
        guard n > 0 else { return false }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self).hasPrefix(dir + "/")
    }.count
}

/// Polls until `condition` holds (reads in flight on the thread pool finish on their own time), up to 5 s.
private func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A folder of files too large to be kept in memory, so that every answer is sent from a descriptor.
private final class LargeFiles {
    let dir: String
    let count = 24
    let size = 100_000

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-fds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        dir = URL(fileURLWithPath: base).resolvingSymlinksInPath().path
        for i in 0..<count {
            let bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) })
            _ = FileManager.default.createFile(atPath: dir + "/f\(i).bin", contents: bytes)
        }
        let text = String(repeating: "compress me, I am a long line of text\n", count: 4000)
        _ = FileManager.default.createFile(atPath: dir + "/big.txt", contents: Data(text.utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }
}

/// The producer of a response's body; the test pulls it by hand.
private func producer(of response: Response) -> (any ChatProducer)? {
    if case .producer(let p, _) = response.body.storage { return p }
    return nil
}

@Suite("Open file descriptors", .serialized)
struct OpenFileDescriptorTests {
    @Test("an OpenFile closes its descriptor once, when the last holder lets go")
    func lastHolderCloses() throws {
        let site = try LargeFiles()
        let fd = open(site.dir + "/f0.bin", O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        var first: OpenFile? = OpenFile(takingOwnershipOf: fd)
        var second: OpenFile? = first
        #expect(openDescriptors(under: site.dir) == 1)
        first = nil
        #expect(openDescriptors(under: site.dir) == 1, "closed while a holder remained")
        _ = second
        second = nil
        #expect(openDescriptors(under: site.dir) == 0, "the last holder let go and the file is still open")
    }

    @Test("descriptors return to none after many answers, cache evictions, and downloads dropped part-way or never pulled")
    func noLeaks() async throws {
        let site = try LargeFiles()
        let baseline = openDescriptors(under: site.dir)
        #expect(baseline == 0, "got \(baseline) open before the server")
        var options = FileServerOptions()
        options.cacheEntries = 6
        options.cacheValidity = .seconds(60)
        var files: FileServer? = try FileServer(root: site.dir, options: options)

        // Whole files, ranges, multipart, 304s, HEAD and streamed gzip, more files than the cache holds.
        for round in 0..<3 {
            for i in 0..<site.count {
                let server = try #require(files)
                let path = "/f\(i).bin"
                let (whole, body) = try await get(server, path)
                #expect(body.readableBytes == site.size, "\(path): \(whole.status)")
                let etag = try #require(whole.headerFields[.eTag])
                #expect(try await get(server, path, [.ifNoneMatch: etag]).0.status == .notModified)
                #expect(try await get(server, path, [.range: "bytes=10-19"]).1.readableBytes == 10)
                #expect(try await get(server, path, [.range: "bytes=0-1,50000-50001"]).0.status == .partialContent)
                #expect(try await get(server, path, method: .head).0.status == .ok)
                let open = openDescriptors(under: site.dir)
                // Each cached file holds one descriptor per event loop that sent it (a loop's own handle:
                // NIOFileHandle lends its descriptor to one sender at a time), as nginx holds one per worker.
                let bound = options.cacheEntries * System.coreCount
                #expect(open <= bound, "round \(round), \(path): \(open) open, the cache holds at most \(bound)")
            }
            let server = try #require(files)
            let (gz, zipped) = try await get(server, "/big.txt", [.acceptEncoding: "gzip"])
            #expect(gz.body.length == nil && gunzip(zipped)?.count == 4000 * 38, "streamed gzip")
        }

        // Aborted downloads: answers never pulled, a multipart body dropped after two pieces, a gzip stream
        // dropped with a read in flight.
        let context = ChatProducerContext(
            allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.any(), preferredChunkSize: 64 * 1024
        )
        for i in 0..<site.count {
            let server = try #require(files)
            _ = try await server.respond(to: Request(method: .get, target: "/f\(i).bin"))
            var multipart = try #require(producer(of: try await server.respond(
                to: Request(method: .get, target: "/f\(i).bin", headerFields: [.range: "bytes=0-1,50000-50001,90000-90001"])
            )))
            _ = multipart.more(context)  // the first part's head
            _ = multipart.more(context)  // its slice, a file region
            var gzip = try #require(producer(of: try await server.respond(
                to: Request(method: .get, target: "/big.txt", headerFields: [.acceptEncoding: "gzip"])
            )))
            _ = gzip.more(context)  // starts a read on the thread pool, then the producer is dropped
        }

        // The cache holds what it holds; once the server goes, nothing is left open.
        let cached = openDescriptors(under: site.dir)
        #expect(try await eventually { openDescriptors(under: site.dir) <= options.cacheEntries }, "\(cached) open with the server alive")
        files = nil
        #expect(try await eventually { openDescriptors(under: site.dir) == baseline }, "\(openDescriptors(under: site.dir)) still open, want \(baseline)")
    }
}
