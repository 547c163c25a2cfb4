import HTTPTypes
import NIOConcurrencyHelpers
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
import HTTPChatTesting

/// A provider over an in-memory tree whose listings take a while and are counted, and can be held at a gate:
/// each `list` blocks a pool thread for `delay` (a wait that never looks at the task's cancellation, as a
/// slow disk would not), so only the planner's own checks can stop a walk.
private final class SlowProvider: FileProvider, Sendable {
    let inner: InMemoryFileProvider
    let delay: Duration
    private let state = NIOLockedValueBox((lists: 0, gateOpen: true))

    init(_ inner: InMemoryFileProvider, delay: Duration, gateOpen: Bool = true) {
        self.inner = inner
        self.delay = delay
        state.withLockedValue { $0.gateOpen = gateOpen }
    }

    var root: String { inner.root }
    var lists: Int { state.withLockedValue { $0.lists } }
    func openGate() { state.withLockedValue { $0.gateOpen = true } }

    func open(_ path: [String], memoryLimit: Int) async throws -> FileLookup { try await inner.open(path, memoryLimit: memoryLimit) }
    func status(_ path: [String]) async throws -> FileStatus? { try await inner.status(path) }

    func list(_ path: [String]) async throws -> [FolderEntry]? {
        state.withLockedValue { $0.lists += 1 }
        let micros = UInt32(delay.components.attoseconds / 1_000_000_000_000 + delay.components.seconds * 1_000_000)
        let state = self.state
        try await NIOThreadPool.singleton.runIfActive {
            // Held at the gate for at most 5 s: without a cap the test fails instead of hanging.
            for _ in 0..<500 where !state.withLockedValue({ $0.gateOpen }) { usleep(10_000) }
            usleep(micros)
        }
        return try await inner.list(path)
    }
}

/// A tree of `folders` folders of `files` small files each.
private func tree(folders: Int, files: Int) -> InMemoryFileProvider {
    var contents: [String: ByteBuffer] = [:]
    for d in 0..<folders {
        for f in 0..<files { contents["d\(d)/f\(f).txt"] = ByteBuffer(string: "\(d).\(f)") }
    }
    return InMemoryFileProvider(files: contents)
}

@Suite("FileServer: archive planning is bounded and stops when the client goes", .serialized)
struct FileServerArchiveLimitsTests {
    @Test("an archive's planning stops within a few folders of its client going away, and gives its slot back")
    func planningStopsWhenClientGoes() async throws {
        let provider = SlowProvider(tree(folders: 600, files: 3), delay: .milliseconds(5))
        let files = FileServer(provider: provider)
        let c = try await InProcessConnection(responder: files)
        try await c.send("GET /?download=zip HTTP/1.1\r\nHost: x\r\n\r\n")
        // The in-process connection's loop runs when it is driven: drive it while time passes.
        func drive(until done: () -> Bool, atMost time: Duration) async throws {
            let end = ContinuousClock.now + time
            while !done() && ContinuousClock.now < end {
                await c.advanceTime(by: .zero)
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await drive(until: { provider.lists >= 5 }, atMost: .seconds(10))
        #expect(provider.lists >= 5, "planning started")
        await c.finishSending()  // the client is gone: its FIN is all the server sees
        await c.advanceTime(by: .zero)  // the loop reads the FIN: the responder's task is cancelled now
        let atFIN = provider.lists
        // Planning ends (no new listing for 200 ms) and gives its slot back. Counted in folders, not seconds:
        // a loaded machine can stretch any wait, and the planner runs on the pool whether this test runs or not.
        // The slot comes back when the planning task ends, after its last listing's pool job: on a loaded
        // machine (CI runs every suite at once on NIO's two pool threads) that job can wait long for a thread.
        var last = -1
        let end = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < end {
            last = provider.lists
            try await drive(until: { false }, atMost: .milliseconds(200))
            if provider.lists == last && files.archiveSlots.inUse == 0 { break }
        }
        #expect(provider.lists == last, "planning went on: \(provider.lists) listings")
        #expect(provider.lists - atFIN <= 10, "\(provider.lists - atFIN) folders listed after the FIN (of 601)")
        #expect(files.archiveSlots.inUse == 0, "the slot was not given back: \(provider.lists) listings")
    }

    @Test("past archiveMaxConcurrent, a folder download is 503 with Retry-After; the slots come back after")
    func concurrentPlansAreCapped() async throws {
        let provider = SlowProvider(tree(folders: 3, files: 2), delay: .zero, gateOpen: false)
        var options = FileServerOptions()
        options.archiveMaxConcurrent = 2
        let files = FileServer(provider: provider, options: options)
        // The tasks keep only the status: a response held on to would hold its body, and the body its slot.
        let first = Task { try await get(files, "/?download=zip").0.status }
        let second = Task { try await get(files, "/?download=zip").0.status }
        for _ in 0..<200 where provider.lists < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let (third, body) = try await get(files, "/?download=zip")
        #expect(third.status == .serviceUnavailable, "got \(third.status)")
        #expect(third.headerFields[.retryAfter] != nil)
        #expect(String(buffer: body).contains("Too many folder downloads"))
        provider.openGate()
        #expect(try await first.value == .ok)
        #expect(try await second.value == .ok)
        #expect(files.archiveSlots.inUse == 0, "the bodies ended: their slots are back")
        #expect(try await get(files, "/?download=zip").0.status == .ok)
    }

    @Test("past listingMaxConcurrent, a folder listing is 503 with Retry-After")
    func concurrentListingsAreCapped() async throws {
        let provider = SlowProvider(tree(folders: 2, files: 2), delay: .zero, gateOpen: false)
        var options = FileServerOptions()
        options.listingMaxConcurrent = 1
        let files = FileServer(provider: provider, options: options)
        let first = Task { try await get(files, "/d0/").0.status }
        for _ in 0..<200 where provider.lists < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let (second, _) = try await get(files, "/d1/")
        #expect(second.status == .serviceUnavailable && second.headerFields[.retryAfter] != nil, "got \(second.status)")
        provider.openGate()
        #expect(try await first.value == .ok)
        #expect(try await get(files, "/d1/").0.status == .ok, "the slot came back")
    }

    @Test("past gzipMaxConcurrent, a file is sent uncompressed; a compression that ends gives its slot back")
    func concurrentGzipIsCapped() async throws {
        let fixture = try TempTree()
        try fixture.write("page.txt", String(repeating: "compress me, compress me. ", count: 4000))  // ~100 KB, from its descriptor
        var options = FileServerOptions()
        options.gzipMaxConcurrent = 1
        let files = try FileServer(root: fixture.dir, options: options)
        func ask() async throws -> Response {
            var request = Request(method: .get, target: "/page.txt")
            request.headerFields[.acceptEncoding] = "gzip"
            return try await files.respond(to: request)
        }
        var first: Response? = try await ask()
        #expect(first?.headerFields[.contentEncoding] == "gzip")
        let second = try await ask()
        #expect(second.headerFields[.contentEncoding] == nil, "a second compression past the cap")
        #expect(String(buffer: try await second.body.collect()).hasPrefix("compress me"))
        _ = try await first?.body.collect()
        first = nil
        #expect(files.gzipSlots.inUse == 0)
        #expect(try await ask().headerFields[.contentEncoding] == "gzip")
    }

    @Test("a folder with more names than the cap is refused having read no more than the cap allows")
    func bigFolderIsReadOnlyToTheCap() async throws {
        let fixture = try TempTree()
        for i in 0..<500 { try fixture.write("many/f\(i)", "x") }
        let provider = try LocalFileProvider(root: fixture.dir)
        #expect(try await provider.list(["many"], limit: 20)?.count == 21, "the cap plus one says there are more")
        #expect(try await provider.list(["many"], limit: 1000)?.count == 500)
        var options = FileServerOptions()
        options.archiveMaxEntries = 100
        options.listingMaxEntries = 100
        let files = FileServer(provider: provider, options: options)
        #expect(try await get(files, "/many/?download=zip").0.status == .forbidden)
        let (listing, page) = try await get(files, "/many/")
        #expect(listing.status == .forbidden && String(buffer: page).contains("more than 100"), "got \(listing.status)")
    }

    @Test("a listing that is cancelled stops reading its folder")
    func cancelledListingStops() async throws {
        let fixture = try TempTree()
        for i in 0..<300 { try fixture.write("many/f\(i)", "x") }
        let provider = try LocalFileProvider(root: fixture.dir)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await provider.list(["many"], limit: 1000)
        }
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

// MARK: - Changes on disk while an archive is sent

@Suite("FileServer: an archive never arrives whole and wrong", .serialized)
struct FileServerArchiveConsistencyTests {
    /// Pulls `producer` to its end; returns whether it aborted, calling `midway` once after the first piece of
    /// file data of `chunkBytes` bytes went out.
    private func pull(_ response: Response, chunkBytes: Int, midway: () throws -> Void) async throws -> (aborted: Bool, bytes: Int) {
        guard case .producer(var producer, _) = response.body.storage else {
            Issue.record("the archive is not a producer")
            return (false, 0)
        }
        let context = ChatProducerContext(
            allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.any(), preferredChunkSize: 64 * 1024
        )
        var fired = false
        var sent = 0
        for _ in 0..<10_000 {
            switch producer.more(context) {
            case .wait(let future): try? await future.get()
            case .bytes(let b):
                sent += b.readableBytes
                if !fired && b.readableBytes == chunkBytes {
                    fired = true
                    try midway()
                }
            case .notifying(let data, let promise):
                promise.succeed(())
                if case .byteBuffer(let b) = data { sent += b.readableBytes }
                if case .fileRegion(let r) = data {
                    sent += r.readableBytes
                    if !fired {
                        fired = true
                        try midway()
                    }
                }
            case .end: return (false, sent)
            case .abort: return (true, sent)
            default: continue
            }
        }
        Issue.record("the producer never ended")
        return (false, sent)
    }

    @Test("a file rewritten in place (same size) while its archive is sent cuts the archive short")
    func rewriteMidSendAborts() async throws {
        let fixture = try TempTree()
        let size = 1 << 20  // smaller than one 8 MiB CRC step: its whole CRC could be read before any of it is sent
        try fixture.write("a.txt", "a")
        try fixture.write("f.bin", String(repeating: "o", count: size))
        try fixture.age("f.bin")
        let files = try FileServer(root: fixture.dir)
        let response = try await files.respond(to: Request(method: .get, target: "/?download=zip"))
        let length = try #require(response.body.length)
        let (aborted, sent) = try await pull(response, chunkBytes: ZipArchiveProducer.readChunk) {
            try fixture.overwrite("f.bin", with: UInt8(ascii: "n"), count: size)  // same size, same inode
        }
        #expect(aborted, "sent \(sent) of \(length) bytes and ended as if whole")
        #expect(sent < length)
    }

    @Test("a file rewritten in place with its modification time put back is caught by the CRC over the bytes sent")
    func rewriteBehindTheCacheAborts() async throws {
        let fixture = try TempTree()
        let size = 300_000
        try fixture.write("a.txt", "a")
        try fixture.write("f.bin", String(repeating: "o", count: size))
        try fixture.age("f.bin")
        let files = try FileServer(root: fixture.dir)
        let (whole, body) = try await get(files, "/?download=zip")
        #expect(whole.status == .ok && body.readableBytes == whole.body.length, "the first download is whole (its CRCs cached)")
        // Same size, inode and modification time: the plan and the CRC cache cannot tell.
        try fixture.overwrite("f.bin", with: UInt8(ascii: "n"), count: size)
        try fixture.age("f.bin")
        let response = try await files.respond(to: Request(method: .get, target: "/?download=zip"))
        await #expect(throws: BodyWriterError.aborted) { try await response.body.collect() }
    }
}

// MARK: - CRC passes for a range

/// An in-memory provider whose opens take 30 ms of a pool thread each (a wait that ignores cancellation) and
/// are counted.
private final class SlowOpens: FileProvider, Sendable {
    let inner: InMemoryFileProvider
    private let count = NIOLockedValueBox(0)
    init(_ inner: InMemoryFileProvider) { self.inner = inner }
    var root: String { inner.root }
    var opens: Int { count.withLockedValue { $0 } }
    func open(_ path: [String], memoryLimit: Int) async throws -> FileLookup {
        count.withLockedValue { $0 += 1 }
        try await NIOThreadPool.singleton.runIfActive { _ = usleep(30_000) }
        return try await inner.open(path, memoryLimit: memoryLimit)
    }
    func status(_ path: [String]) async throws -> FileStatus? { try await inner.status(path) }
    func list(_ path: [String]) async throws -> [FolderEntry]? { try await inner.list(path) }
}

@Suite("FileServer: an archive's CRC pass stops with its response", .serialized)
struct FileServerArchiveCRCPassTests {
    @Test("a range of the central directory whose response is dropped stops computing the CRCs of the files before it")
    func droppedRangeStopsCRCPass() async throws {
        var contents: [String: ByteBuffer] = [:]
        for i in 0..<60 { contents["f\(i).bin"] = ByteBuffer(repeating: UInt8(i), count: 100_000) }
        let provider = SlowOpens(InMemoryFileProvider(files: contents))
        let files = FileServer(provider: provider)
        var request = Request(method: .get, target: "/?download=zip")
        request.headerFields[.range] = "bytes=-5000"  // the central directory: records that need every file's CRC
        let response = try await files.respond(to: request)
        #expect(response.status == .partialContent)
        guard case .producer(var producer, _) = response.body.storage else {
            Issue.record("the archive is not a producer")
            return
        }
        let context = ChatProducerContext(
            allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.any(), preferredChunkSize: 64 * 1024
        )
        var waits = 0  // the first wait is the last file's open; the second, the pass over the others
        for _ in 0..<20 where waits < 2 {
            switch producer.more(context) {
            case .wait(let future):
                waits += 1
                if waits == 1 { try await future.get() }
            case .end, .abort: Issue.record("the producer ended")
            default: continue
            }
        }
        #expect(waits == 2, "the producer waits for the CRC pass")
        let start = provider.opens
        for _ in 0..<50 where provider.opens < start + 3 { try await Task.sleep(for: .milliseconds(10)) }
        producer.cancel()
        let atCancel = provider.opens
        try await Task.sleep(for: .milliseconds(600))
        #expect(provider.opens <= atCancel + 1, "the pass went on: \(atCancel) opens at the cancel, \(provider.opens) after")
        #expect(provider.opens < 40, "\(provider.opens) of 62 opens")
    }
}

// MARK: - Entry names

@Suite("FileServer: archive entry names an extractor could misread are left out")
struct FileServerArchiveNameTests {
    @Test("names are decided on bytes: separators, dot names, controls and U+FFFD refused; the rest kept")
    func safeComponents() {
        for bad in ["", ".", "..", "a/b", "a\\b", "..\\..\\evil", "\\", "nul\u{0}", "tab\t", "line\nbreak", "del\u{7F}",
            "c1\u{85}", "c1\u{9B}x", "bad\u{FFFD}", "e\u{301}\\x", "\u{6DD}/x", "\u{200D}\\"]
        {
            #expect(!ZipLayout.isSafeComponent(bad), "\(Array(bad.unicodeScalars.map(\.value)))")
        }
        for good in ["a", "...", ".env", "a.b", "é.txt", "日本語", "a:b", "x\u{A0}y", "\u{1F600}", "e\u{301}"] {
            #expect(ZipLayout.isSafeComponent(good), "\(good)")
        }
    }

    @Test("on disk: names with a backslash, a control character or bytes that are not UTF-8 are not in the archive")
    func hostileNamesOnDisk() async throws {
        let fixture = try TempTree()
        try fixture.write("ok.txt", "ok")
        try fixture.write("a\\b.txt", "backslash")
        try fixture.write("..\\..\\evil.txt", "climb")
        try fixture.write("ctl\u{1}.txt", "control")
        try fixture.write("sub/c1\u{85}.txt", "c1")
        try fixture.write("sub/fine.txt", "fine")
        let raw: [UInt8] = Array((fixture.dir + "/bad").utf8) + [0xFF, 0x2E, 0x74, 0x78, 0x74, 0]
        let fd = raw.withUnsafeBufferPointer { p in p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) { Glibc.open($0, O_CREAT | O_WRONLY, 0o644) } }
        #expect(fd >= 0)
        close(fd)
        let (r, body) = try await get(try FileServer(root: fixture.dir), "/?download=zip")
        #expect(r.status == .ok, "one odd name does not cost the whole archive")
        #expect(r.body.length == body.readableBytes)
        let names = zipNames(body)
        #expect(names == ["ok.txt", "sub/", "sub/fine.txt"], "got \(names)")
    }

    @Test("a provider's hostile names (separators, dot names) never become entries")
    func hostileProviderNames() async throws {
        struct Hostile: FileProvider {
            let inner = InMemoryFileProvider(files: ["ok.txt": ByteBuffer(string: "ok")])
            var root: String { "hostile" }
            func open(_ path: [String], memoryLimit: Int) async throws -> FileLookup { try await inner.open(path, memoryLimit: memoryLimit) }
            func status(_ path: [String]) async throws -> FileStatus? { try await inner.status(path) }
            func list(_ path: [String]) async throws -> [FolderEntry]? {
                let info = FileInfo(size: 2, isDirectory: false, mtimeSeconds: 0, inode: 9)
                return (try await inner.list(path) ?? [])
                    + ["..", ".", "", "../x", "/etc/passwd", "a\\..\\b"].map { FolderEntry(name: $0, info: info) }
            }
        }
        let (r, body) = try await get(FileServer(provider: Hostile(), options: { var o = FileServerOptions(); o.hidden = true; return o }()), "/?download=zip")
        #expect(r.status == .ok)
        #expect(zipNames(body) == ["ok.txt"])
    }
}

/// The entry names of an archive, from its central directory.
private func zipNames(_ body: ByteBuffer) -> [String] {
    let z = Array(body.readableBytesView)
    guard z.count >= 22 else { return [] }
    func u16(_ at: Int) -> Int { Int(z[at]) | Int(z[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    let eocd = z.count - 22
    var at = u32(eocd + 16)
    var names: [String] = []
    for _ in 0..<u16(eocd + 10) {
        let length = u16(at + 28)
        names.append(String(decoding: z[(at + 46)..<(at + 46 + length)], as: UTF8.self))
        at += 46 + length + u16(at + 30) + u16(at + 32)
    }
    return names
}

/// A temporary folder, removed at the end.
final class TempTree {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-tree-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ path: String, _ text: String) throws {
        let full = dir + "/" + path
        let slash = full.utf8.lastIndex(of: UInt8(ascii: "/"))!  // on bytes: a name may start with a combining mark
        try FileManager.default.createDirectory(atPath: String(Substring(full.utf8[..<slash])), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: full, contents: Data(text.utf8)) else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Sets the file's modification time to 2020-01-01, so a rewrite now surely changes it.
    func age(_ path: String) throws {
        var times = [timespec(tv_sec: 1_577_836_800, tv_nsec: 0), timespec(tv_sec: 1_577_836_800, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, dir + "/" + path, &times, 0) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Rewrites the file in place (no truncation: the same inode and size) with `count` bytes of `byte`.
    func overwrite(_ path: String, with byte: UInt8, count: Int) throws {
        let fd = Glibc.open(dir + "/" + path, O_WRONLY)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        let bytes = [UInt8](repeating: byte, count: count)
        guard pwrite(fd, bytes, count, 0) == count else { throw CocoaError(.fileWriteUnknown) }
    }
}
