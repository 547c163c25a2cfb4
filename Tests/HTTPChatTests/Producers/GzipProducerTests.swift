import CZlib
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// zlib's CRC-32 of `bytes` (the one RFC 1952 §8 puts in the trailer).
private func crc32Of(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
}

/// The little-endian 32-bit number at `offset`.
private func littleEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
}

/// Compresses `input` through a GzipProducer over a BufferProducer, pulled as the channel pulls it.
private func gzipPieces(_ input: [UInt8], level: Int32 = 6, chunkSize: Int = 64 * 1024) async throws -> [Pulled] {
    var producer = GzipProducer(BufferProducer(ByteBuffer(bytes: input)), level: level)
    return try await pullAll(&producer, context: producerContext(chunkSize: chunkSize))
}

@Suite("Gzip producer")
struct GzipProducerTests {
    static let inputs: [(String, [UInt8])] = [
        ("empty", []),
        ("one byte", [0x41]),
        ("64 KiB of text", compressibleBytes(64 * 1024)),
        ("64 KiB of noise", randomBytes(64 * 1024)),
        ("1 MiB + 1 of text", compressibleBytes((1 << 20) + 1)),
        ("1 MiB + 1 of noise", randomBytes((1 << 20) + 1)),
    ]

    @Test("the output inflates back to the input", arguments: inputs)
    func roundTrips(_ name: String, _ input: [UInt8]) async throws {
        let pieces = try await gzipPieces(input)
        #expect(pieces.last == .end, "\(name): got \(pieces.suffix(2))")
        let inflated = gunzip(ByteBuffer(bytes: try concatenated(pieces)))
        #expect(inflated?.count == input.count, "\(name): inflated \(String(describing: inflated?.count)) bytes, want \(input.count)")
        #expect(inflated == input, "\(name): the inflated bytes differ")
    }

    @Test("the gzip header is RFC 1952's, the trailer holds the input's CRC-32 and size", arguments: inputs)
    func headerAndTrailer(_ name: String, _ input: [UInt8]) async throws {
        let out = try concatenated(try await gzipPieces(input))
        try #require(out.count >= 18, "\(name): \(out.count) bytes")
        #expect(Array(out[0..<4]) == [0x1F, 0x8B, 0x08, 0x00], "\(name): ID1 ID2 CM FLG got \(Array(out[0..<4]))")
        #expect(littleEndian32(out, at: 4) == 0, "\(name): MTIME got \(littleEndian32(out, at: 4)), want 0")
        let crc = littleEndian32(out, at: out.count - 8)
        let size = littleEndian32(out, at: out.count - 4)
        #expect(crc == crc32Of(input), "\(name): CRC32 got \(crc), want \(crc32Of(input))")
        #expect(size == UInt32(truncatingIfNeeded: input.count), "\(name): ISIZE got \(size), want \(input.count)")
    }

    @Test("the trailer of the check string 123456789 holds its known CRC-32, CBF43926")
    func knownCRC() async throws {
        let out = try concatenated(try await gzipPieces(Array("123456789")))
        #expect(Array(out.suffix(8)) == [0x26, 0x39, 0xF4, 0xCB, 9, 0, 0, 0], "got \(Array(out.suffix(8)))")
    }

    @Test("an empty body is a complete 20-byte gzip stream")
    func emptyBody() async throws {
        let pieces = try await gzipPieces([])
        #expect(pieces.count == 2, "got \(pieces)")
        let out = try concatenated(pieces)
        #expect(out.count == 20, "got \(out.count) bytes")
        #expect(gunzip(ByteBuffer(bytes: out)) == [])
    }

    @Test("pieces follow the input's chunks: none empty, none far over the chunk size, even for a megabyte of noise")
    func piecesAreBounded() async throws {
        let input = randomBytes((1 << 20) + 1)
        let pieces = try await gzipPieces(input, chunkSize: 64 * 1024)
        let sizes = pieces.compactMap { piece -> Int? in
            if case .bytes(let b) = piece { return b.count }
            return nil
        }
        #expect(!sizes.contains(0), "an empty piece")
        // zlib may hold back up to its pending buffer (64 KiB at memLevel 8) and let it out with the next input.
        #expect(sizes.allSatisfy { $0 <= 2 * 64 * 1024 + 1024 }, "largest piece \(sizes.max() ?? 0)")
        #expect(sizes.count >= 16, "\(sizes.count) pieces for 1 MiB in 64 KiB chunks")
    }

    @Test("text compresses; the levels all round-trip", arguments: [1, 6, 9] as [Int32])
    func levels(_ level: Int32) async throws {
        let input = compressibleBytes(256 * 1024)
        let out = try concatenated(try await gzipPieces(input, level: level))
        #expect(out.count < input.count / 4, "level \(level): \(out.count) bytes for \(input.count)")
        #expect(gunzip(ByteBuffer(bytes: out)) == input, "level \(level)")
    }

    @Test("empty pieces and waits from the inner producer leave the stream whole")
    func emptyPiecesAndWaits() async throws {
        var producer = GzipProducer(ScriptedProducer([.text(""), .wait, .text("hello "), .text(""), .wait, .text("world"), .text("")]))
        let pieces = try await pullAll(&producer)
        #expect(pieces.last == .end)
        #expect(gunzip(ByteBuffer(bytes: try concatenated(pieces))) == Array("hello world"))
    }

    @Test("notifying bytes are compressed and their promise kept once taken")
    func notifyingBytes() async throws {
        let promises = PromiseLog()
        var producer = GzipProducer(ScriptedProducer([.notifying(Array("abc"), promises), .text("def")]))
        let pieces = try await pullAll(&producer)
        #expect(gunzip(ByteBuffer(bytes: try concatenated(pieces))) == Array("abcdef"))
        #expect(await promises.outcomes() == ["succeeded"])
    }

    @Test("file regions are read off the loop and compressed; a notifying region's promise is kept after its read")
    func fileRegions() async throws {
        let content = compressibleBytes(300_000)
        let file = try TemporaryFile(bytes: content)
        let region = { (r: Range<Int>) in FileRegion(fileHandle: file.file.handle, readerIndex: r.lowerBound, endIndex: r.upperBound) }
        let context = producerContext()
        let promise = context.eventLoop.makePromise(of: Void.self)
        var producer = GzipProducer(ScriptedProducer([.fileRegion(region(0..<100_000)), .text("|")]))
        let first = producer.more(context)
        #expect(Pulled(first) == .wait, "a file region is read on the pool, not on the loop")
        if case .wait(let read) = first { try await read.get() }
        var pieces = try await pullAll(&producer, context: context)
        #expect(gunzip(ByteBuffer(bytes: try concatenated(pieces))) == Array(content[0..<100_000]) + Array("|"))

        // A notifying region: the inner producer learns its write is done once the read has been taken.
        struct NotifyingRegion: ChatProducer {
            let region: FileRegion
            let promise: EventLoopPromise<Void>
            var sent = false
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
                if sent { return .end }
                sent = true
                return .notifying(.fileRegion(region), promise)
            }
        }
        var notifying = GzipProducer(NotifyingRegion(region: region(100_000..<300_000), promise: promise))
        pieces = try await pullAll(&notifying, context: context)
        try await promise.futureResult.get()
        #expect(gunzip(ByteBuffer(bytes: try concatenated(pieces))) == Array(content[100_000..<300_000]))
    }

    @Test("an abort from the inner producer is an abort, with no gzip trailer, and the stream stays ended")
    func innerAbort() async throws {
        let calls = ProducerCalls()
        var producer = GzipProducer(ScriptedProducer([.text(String(repeating: "x", count: 100)), .abort, .text("never")], calls: calls))
        let pieces = try await pullAll(&producer)
        #expect(pieces.last == .abort, "got \(pieces)")
        #expect(gunzip(ByteBuffer(bytes: try concatenated(pieces))) == nil, "a cut stream must not inflate as whole")
        #expect(Pulled(producer.more(producerContext())) == .end)
        #expect(calls.pulls == 2, "pulled \(calls.pulls) times, want 2")
    }

    @Test("after its end the inner producer is not pulled again")
    func endIsFinal() async throws {
        let calls = ProducerCalls()
        let context = producerContext()
        var producer = GzipProducer(ScriptedProducer([.text("a")], calls: calls))
        let pieces = try await pullAll(&producer, context: context)
        #expect(pieces.last == .end)
        #expect(Pulled(producer.more(context)) == .end)
        #expect(Pulled(producer.more(context)) == .end)
        #expect(calls.pulls == 2, "pulled \(calls.pulls) times, want 2: the piece and the end")
    }

    @Test("cancel mid-stream reaches the inner producer and fails a region's promise whose read is in flight")
    func cancelMidStream() async throws {
        let file = try TemporaryFile(bytes: randomBytes(200_000))
        let context = producerContext()
        let promise = context.eventLoop.makePromise(of: Void.self)
        let calls = ProducerCalls()
        struct RegionThenMore: ChatProducer {
            let region: FileRegion
            let promise: EventLoopPromise<Void>
            let calls: ProducerCalls
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput { .notifying(.fileRegion(region), promise) }
            mutating func cancel() { calls.cancelled() }
        }
        var producer = GzipProducer(RegionThenMore(
            region: FileRegion(fileHandle: file.file.handle, readerIndex: 0, endIndex: 200_000), promise: promise, calls: calls
        ))
        let output = producer.more(context)
        guard case .wait(let read) = output else {
            Issue.record("got \(Pulled(output)), want a wait for the read")
            return
        }
        producer.cancel()
        #expect(calls.cancels == 1)
        await #expect(throws: ChannelError.ioOnClosedChannel) { try await promise.futureResult.get() }
        try? await read.get()  // the read finishes on its own; the dropped producer's box takes it
    }

    @Test("cancel before any pull, and a deflater dropped mid-stream, release without a crash")
    func cancelEarly() {
        let calls = ProducerCalls()
        var producer = GzipProducer(ScriptedProducer([.text("a")], calls: calls))
        producer.cancel()
        #expect(calls.cancels == 1)

        var half = ByteBuffer()
        do {
            let deflater = Deflater()
            deflater.compress(ByteBuffer(bytes: randomBytes(100_000)), finish: false, into: &half)
        }
        #expect(half.readableBytes > 0, "100 KB of noise gave no output before the finish")
    }

    @Test("a finished deflater appends nothing more")
    func deflaterAfterFinish() {
        let deflater = Deflater()
        var out = ByteBuffer()
        deflater.compress(ByteBuffer(string: "abc"), finish: true, into: &out)
        let whole = out.readableBytes
        deflater.compress(ByteBuffer(string: "more"), finish: false, into: &out)
        deflater.compress(ByteBuffer(), finish: true, into: &out)
        #expect(out.readableBytes == whole, "got \(out.readableBytes) bytes, want \(whole)")
        #expect(gunzip(out) == Array("abc"))
    }
}
