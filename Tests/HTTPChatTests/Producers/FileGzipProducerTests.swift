import NIOCore
import NIOPosix
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
@testable import HTTPChatTesting

#if canImport(Glibc)
import Glibc
#endif

/// Compressible bytes: words, some repeated, some not.
private func text(_ count: Int) -> [UInt8] {
    var rng = SystemRandomNumberGenerator()
    let words = ["chat ", "framing ", "terminator ", "producer ", "gzip ", "slice\n"]
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
        out += Array(words[Int(rng.next() % UInt64(words.count))].utf8)
        if rng.next() % 7 == 0 { out += Array(String(rng.next() % 1000).utf8) }
    }
    return Array(out.prefix(count))
}

@Suite("File gzip producer")
struct FileGzipProducerTests {
    @Test("a file of any size, at slice boundaries and across them, inflates to its bytes",
          arguments: [0, 1, FileGzipProducer.sliceBytes - 1, FileGzipProducer.sliceBytes, FileGzipProducer.sliceBytes + 1, 300_001])
    func inflatesToTheFile(_ size: Int) async throws {
        let bytes = text(size)
        let tmp = try TemporaryFile(bytes: bytes)
        let body = ResponseBody(producer: FileGzipProducer(file: tmp.file, range: 0..<size, level: 6), length: nil)
        let gz = try await body.collect()
        #expect(gunzip(gz) == bytes)
        #expect(size < 1000 || gz.readableBytes < size / 2)
    }

    @Test("a range of the file is what is compressed")
    func range() async throws {
        let bytes = text(200_000)
        let tmp = try TemporaryFile(bytes: bytes)
        let body = ResponseBody(producer: FileGzipProducer(file: tmp.file, range: 1000..<150_000, level: 1), length: nil)
        #expect(gunzip(try await body.collect()) == Array(bytes[1000..<150_000]))
    }

    @Test("a file that shrank since its size was read ends the stream where the file ends, still valid gzip")
    func shrank() async throws {
        let bytes = text(100_000)
        let tmp = try TemporaryFile(bytes: bytes)
        #expect(truncate(tmp.path, 70_000) == 0)
        let body = ResponseBody(producer: FileGzipProducer(file: tmp.file, range: 0..<100_000, level: 6), length: nil)
        #expect(gunzip(try await body.collect()) == Array(bytes.prefix(70_000)))
    }

    @Test("each slice is one job of the pool: a pull answers a wait at once, the compressed bytes come with the next pull")
    func offTheLoop() async throws {
        let bytes = text(FileGzipProducer.sliceBytes * 3)
        let tmp = try TemporaryFile(bytes: bytes)
        let file = tmp.file
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var producer = FileGzipProducer(file: file, range: 0..<bytes.count, level: 9)
        let context = ChatProducerContext(allocator: ByteBufferAllocator(), eventLoop: loop, preferredChunkSize: 64 * 1024)
        var out = ByteBuffer()
        var waits = 0
        pull: while true {
            let output = producer.more(context)
            switch output {
            case .wait(let future):
                waits += 1
                try await future.get()
            case .bytes(var b): out.writeBuffer(&b)
            case .end: break pull
            default: Issue.record("unexpected \(output)"); break pull
            }
        }
        #expect(waits == 3, "one pool job per slice")
        #expect(gunzip(out) == bytes)
    }

    @Test("a cancel while a slice is in flight lets go of the file once the slice is done, and pulls end")
    func cancelInFlight() async throws {
        let bytes = text(200_000)
        let tmp = try TemporaryFile(bytes: bytes)
        let fd = open(tmp.path, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        var file: OpenFile? = OpenFile(takingOwnershipOf: fd)
        weak let weakFile = file
        var producer: FileGzipProducer? = FileGzipProducer(file: file!, range: 0..<bytes.count, level: 6)
        file = nil
        let context = ChatProducerContext(
            allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            preferredChunkSize: 64 * 1024
        )
        guard case .wait(let future) = producer!.more(context) else { Issue.record("no wait"); return }
        producer!.cancel()
        guard case .end = producer!.more(context) else { Issue.record("pulled after a cancel"); return }
        producer = nil
        try await future.get()
        for _ in 0..<100 where weakFile != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(weakFile == nil, "the file closed")
    }
}

@Suite("File gzip producer, shared file")
struct FileGzipProducerSharedFileTests {
    @Test("many downloads of one cached file compress at once, each whole (the handle lends its descriptor to one thread at a time; the reads use the raw one)")
    func concurrentReaders() async throws {
        let bytes = text(FileGzipProducer.sliceBytes * 4 + 123)
        let tmp = try TemporaryFile(bytes: bytes)
        let file = tmp.file
        let results = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let body = ResponseBody(producer: FileGzipProducer(file: file, range: 0..<bytes.count, level: 1), length: nil)
                    return gunzip(try await body.collect())
                }
            }
            var all: [[UInt8]?] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(results.count == 16)
        #expect(results.allSatisfy { $0 == bytes })
    }
}
