import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("Chunked encoding producer")
struct ChunkedEncodingProducerTests {
    typealias Step = ScriptedProducer.Step

    /// Inner pieces and the exact wire bytes (RFC 9112 §7.1): each non-empty piece one chunk with its size in
    /// lowercase hex, empty pieces and waits leaving no trace, the end the last chunk `0\r\n\r\n`.
    static let framing: [(String, [Step], String)] = [
        ("no body", [], "0\r\n\r\n"),
        ("one piece", [.text("hello")], "5\r\nhello\r\n0\r\n\r\n"),
        ("two pieces", [.text("ab"), .text("cde")], "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
        ("15 bytes is f", [.text(String(repeating: "x", count: 15))], "f\r\n" + String(repeating: "x", count: 15) + "\r\n0\r\n\r\n"),
        ("16 bytes is 10", [.text(String(repeating: "y", count: 16))], "10\r\n" + String(repeating: "y", count: 16) + "\r\n0\r\n\r\n"),
        ("255 bytes is ff", [.text(String(repeating: "z", count: 255))], "ff\r\n" + String(repeating: "z", count: 255) + "\r\n0\r\n\r\n"),
        ("4096 bytes is 1000", [.text(String(repeating: "q", count: 4096))], "1000\r\n" + String(repeating: "q", count: 4096) + "\r\n0\r\n\r\n"),
        ("empty pieces are skipped, never a zero-size chunk", [.text(""), .text("a"), .text(""), .text(""), .text("b"), .text("")],
         "1\r\na\r\n1\r\nb\r\n0\r\n\r\n"),
        ("only empty pieces", [.text(""), .text("")], "0\r\n\r\n"),
        ("waits leave no trace", [.wait, .text("a"), .wait, .wait, .text("b"), .wait], "1\r\na\r\n1\r\nb\r\n0\r\n\r\n"),
        ("CRLF inside a piece is data", [.text("\r\n0\r\n\r\n")], "7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n"),
    ]

    @Test("each non-empty piece is one chunk sized in hex; the end is the last chunk", arguments: framing)
    func frames(_ name: String, _ steps: [Step], _ wire: String) async throws {
        var producer = ChunkedEncodingProducer(ScriptedProducer(steps))
        let pieces = try await pullAll(&producer)
        #expect(pieces.last == .end, "\(name): got \(pieces)")
        let got = String(decoding: try concatenated(pieces), as: UTF8.self)
        #expect(got == wire, "\(name): got \(got.debugDescription), want \(wire.debugDescription)")
    }

    @Test("an empty piece is answered with empty bytes, not with a chunk (a zero-size chunk would end the body)")
    func emptyPieceIsNoChunk() {
        let context = producerContext()
        var producer = ChunkedEncodingProducer(ScriptedProducer([.text(""), .text("a")]))
        #expect(Pulled(producer.more(context)) == .bytes([]))
        #expect(Pulled(producer.more(context)) == .bytes(Array("1\r\na\r\n")))
        #expect(Pulled(producer.more(context)) == .bytes(Array("0\r\n\r\n")))
        #expect(Pulled(producer.more(context)) == .end)
    }

    @Test("a file region goes out unread between its chunk header and CRLF")
    func fileRegionIsFramedAroundTheRegion() throws {
        let file = try TemporaryFile(bytes: Array(repeating: UInt8(ascii: "f"), count: 300))
        let region = FileRegion(fileHandle: file.file.handle, readerIndex: 10, endIndex: 310 - 10)
        let empty = FileRegion(fileHandle: file.file.handle, readerIndex: 5, endIndex: 5)
        let context = producerContext()
        var producer = ChunkedEncodingProducer(ScriptedProducer([.fileRegion(empty), .fileRegion(region)]))
        let pulled = (0..<6).map { _ in Pulled(producer.more(context)) }
        #expect(pulled == [
            .bytes([]),  // the empty region: skipped
            .bytes(Array("122\r\n")),  // 290 bytes
            .fileRegion(10..<300),
            .bytes(Array("\r\n")),
            .bytes(Array("0\r\n\r\n")),
            .end,
        ], "got \(pulled)")
    }

    @Test("a notifying piece keeps its promise and is framed like bytes")
    func notifyingPieceKeepsItsPromise() async throws {
        let promises = PromiseLog()
        let context = producerContext()
        var producer = ChunkedEncodingProducer(ScriptedProducer([.notifying(Array("abc"), promises)]))
        let header = Pulled(producer.more(context))
        let data = producer.more(context)
        let trailer = Pulled(producer.more(context))
        #expect(header == .bytes(Array("3\r\n")))
        #expect(Pulled(data) == .notifyingBytes(Array("abc")))
        #expect(trailer == .bytes(Array("\r\n")))
        guard case .notifying(_, let promise) = data else { return }
        promise.succeed(())
        #expect(await promises.outcomes() == ["succeeded"], "the promise handed out is the inner producer's own")
        #expect(Pulled(producer.more(context)) == .bytes(Array("0\r\n\r\n")))
    }

    @Test("an abort goes out as an abort, with no last chunk, and nothing follows")
    func abortHasNoLastChunk() async throws {
        let calls = ProducerCalls()
        var producer = ChunkedEncodingProducer(ScriptedProducer([.text("part"), .abort, .text("never")], calls: calls))
        let pieces = try await pullAll(&producer)
        #expect(pieces == [.bytes(Array("4\r\npart\r\n")), .abort], "got \(pieces)")
        #expect(Pulled(producer.more(producerContext())) == .end)
        #expect(calls.pulls == 2, "the inner producer was pulled after its abort")
    }

    @Test("after the last chunk the inner producer is not pulled again")
    func innerNotPulledAfterEnd() {
        let calls = ProducerCalls()
        let context = producerContext()
        var producer = ChunkedEncodingProducer(ScriptedProducer([.end, .text("after")], calls: calls))
        #expect(Pulled(producer.more(context)) == .bytes(Array("0\r\n\r\n")))
        #expect(Pulled(producer.more(context)) == .end)
        #expect(Pulled(producer.more(context)) == .end)
        #expect(calls.pulls == 1, "got \(calls.pulls) pulls, want 1")
    }

    @Test("cancel reaches the inner producer")
    func cancelReachesInner() {
        let calls = ProducerCalls()
        var producer = ChunkedEncodingProducer(ScriptedProducer([.text("a"), .text("b")], calls: calls))
        _ = producer.more(producerContext())
        producer.cancel()
        #expect(calls.cancels == 1, "got \(calls.cancels) cancels, want 1")
    }

    @Test("chunk headers: the size in lowercase hex and CRLF", arguments: [
        (1, "1\r\n"), (10, "a\r\n"), (255, "ff\r\n"), (256, "100\r\n"), (65536, "10000\r\n"), (0xABCDEF, "abcdef\r\n"),
    ])
    func chunkHeader(_ size: Int, _ want: String) {
        var buffer = ByteBuffer()
        ChunkedEncodingProducer<ScriptedProducer>.writeChunkHeader(size, into: &buffer)
        #expect(String(buffer: buffer) == want, "got \(String(buffer: buffer).debugDescription), want \(want.debugDescription)")
    }
}
