import NIOCore
import HTTPChatTesting
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Polls until `condition` holds (a read on the thread pool lets go of its file when it completes), up to 5 s.
private func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite("File producers")
struct FileProducersTests {
    // MARK: - FileReadProducer

    /// (file size, range read, preferred chunk size, the sizes of the pieces). A read is at least 256 KiB
    /// (fewer pool round trips), at most what is left of the range; a file shorter than the range ends early.
    static let reads: [(Int, Range<Int>, Int, [Int])] = [
        (1000, 0..<1000, 64 * 1024, [1000]),
        (1000, 10..<20, 64 * 1024, [10]),
        (1000, 999..<1000, 64 * 1024, [1]),
        (1000, 500..<500, 64 * 1024, []),
        (600_000, 0..<600_000, 64 * 1024, [262_144, 262_144, 75_712]),
        (600_000, 0..<600_000, 512 * 1024, [524_288, 75_712]),
        (600_000, 100..<262_244, 1, [262_144]),
        (1000, 0..<2000, 64 * 1024, [1000]),  // the file shrank: what is there, then the end
        (1000, 1500..<2000, 64 * 1024, []),
    ]

    @Test("a read producer hands out the range's bytes in reads of the chunk size, at least 256 KiB", arguments: reads)
    func readsTheRange(_ size: Int, _ range: Range<Int>, _ chunk: Int, _ want: [Int]) async throws {
        let content = randomBytes(size)
        let file = try TemporaryFile(bytes: content)
        var producer = FileReadProducer(file: file.file, range: range)
        let pieces = try await pullAll(&producer, context: producerContext(chunkSize: chunk))
        #expect(pieces.last == .end, "\(range) of \(size): got \(pieces.suffix(1))")
        let sizes = pieces.dropLast().map { piece -> Int in
            if case .bytes(let b) = piece { return b.count }
            return -1
        }
        #expect(sizes == want, "\(range) of \(size), chunk \(chunk): pieces \(sizes), want \(want)")
        let clamped = range.clamped(to: 0..<size)
        #expect(try concatenated(pieces) == Array(content[clamped]), "\(range) of \(size): the bytes differ")
    }

    @Test("a read producer lets go of its file at the end, and after a cancel once its read is done")
    func readProducerReleasesItsFile() async throws {
        let file = try TemporaryFile(bytes: randomBytes(300_000))
        var open: OpenFile? = try file.reopen()
        weak let watched = open
        var finished = FileReadProducer(file: open!, range: 0..<300_000)
        open = nil
        _ = try await pullAll(&finished)
        #expect(try await eventually { watched == nil }, "held after the end")

        open = try file.reopen()
        weak let cancelledFile = open
        var cancelled = FileReadProducer(file: open!, range: 0..<300_000)
        open = nil
        let output = cancelled.more(producerContext())
        guard case .wait(let read) = output else {
            Issue.record("got \(Pulled(output)), want a wait for the read")
            return
        }
        cancelled.cancel()
        try await read.get()
        #expect(try await eventually { cancelledFile == nil }, "held after a cancel and the read's end")
        _ = cancelled
    }

    // MARK: - FilePartsProducer

    @Test("a parts producer sends bytes and regions in order, empty ones dropped, the last with a promise, then waits for it")
    func partsInOrder() async throws {
        let file = try TemporaryFile(bytes: Array(repeating: 0x66, count: 100))
        var open: OpenFile? = try file.reopen()
        weak let watched = open
        let context = producerContext()
        var producer = FilePartsProducer(file: open!, parts: [
            .bytes(ByteBuffer(string: "--a\r\n")), .file(0..<10), .bytes(ByteBuffer()), .file(5..<5),
            .file(90..<100), .bytes(ByteBuffer(string: "--a--")),
        ])
        open = nil
        #expect(Pulled(producer.more(context)) == .bytes(Array("--a\r\n")))
        #expect(Pulled(producer.more(context)) == .fileRegion(0..<10))
        #expect(Pulled(producer.more(context)) == .fileRegion(90..<100))
        let last = producer.more(context)
        #expect(Pulled(last) == .notifyingBytes(Array("--a--")))
        guard case .notifying(_, let promise) = last else { return }
        let wait = producer.more(context)
        guard case .wait(let written) = wait else {
            Issue.record("got \(Pulled(wait)), want a wait for the last write")
            return
        }
        #expect(watched != nil, "let go of the file before the last write was done")
        promise.succeed(())
        try await written.get()
        #expect(Pulled(producer.more(context)) == .end)
        #expect(watched == nil, "held after the end")
    }

    @Test("a parts producer whose last part is a region sends it notifying; one with no parts ends at once")
    func lastRegionAndNoParts() async throws {
        let file = try TemporaryFile(bytes: Array(repeating: 0x66, count: 100))
        let context = producerContext()
        var producer = FilePartsProducer(file: file.file, parts: [.file(0..<100)])
        let only = producer.more(context)
        #expect(Pulled(only) == .notifyingFile(0..<100))
        if case .notifying(_, let promise) = only { promise.succeed(()) }

        var empty = FilePartsProducer(file: file.file, parts: [.bytes(ByteBuffer()), .file(3..<3)])
        #expect(Pulled(empty.more(context)) == .end)
    }

    @Test("a cancelled parts producer lets go of its file and hands out nothing more")
    func partsCancel() throws {
        let file = try TemporaryFile(bytes: Array(repeating: 0x66, count: 100))
        var open: OpenFile? = try file.reopen()
        weak let watched = open
        var producer = FilePartsProducer(file: open!, parts: [.file(0..<10), .file(10..<20)])
        open = nil
        let context = producerContext()
        #expect(Pulled(producer.more(context)) == .fileRegion(0..<10))
        producer.cancel()
        #expect(watched == nil, "held after a cancel")
        #expect(Pulled(producer.more(context)) == .end)
    }

    @Test("ResponseBody.file clamps its range to the file and states the length")
    func responseBodyFile() async throws {
        let content = randomBytes(1000)
        let file = try TemporaryFile(bytes: content)
        for (range, want) in [(nil, 0..<1000), (10..<20, 10..<20), (900..<5000, 900..<1000)] as [(Range<Int>?, Range<Int>)] {
            let body = try await ResponseBody.file(path: file.path, range: range)
            #expect(body.length == want.count, "\(String(describing: range)): length \(String(describing: body.length)), want \(want.count)")
            let bytes = try await body.collect()
            #expect(Array(bytes.readableBytesView) == Array(content[want]), "\(String(describing: range)): the bytes differ")
        }
        await #expect(throws: IOError.self) { try await ResponseBody.file(path: file.path + ".missing") }
    }
}
