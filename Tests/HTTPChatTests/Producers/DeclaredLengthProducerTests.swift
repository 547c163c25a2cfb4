import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("Declared length producer")
struct DeclaredLengthProducerTests {
    /// (declared length, the inner producer's piece sizes, how many of them go out, whether it ends or aborts).
    /// A piece that would cross the length is not sent at all: what precedes it goes out, then the abort.
    static let lengths: [(Int, [Int], Int, Pulled)] = [
        // Exactly the length: unchanged.
        (0, [], 0, .end),
        (0, [0], 1, .end),
        (5, [5], 1, .end),
        (5, [1, 1, 1, 1, 1], 5, .end),
        (10, [3, 0, 7], 3, .end),
        (100_000, [65_536, 34_464], 2, .end),
        // More than the length: cut before the piece that crosses it, then an abort.
        (0, [1], 0, .abort),
        (5, [6], 0, .abort),
        (5, [5, 1], 1, .abort),
        (5, [3, 3], 1, .abort),
        (10, [4, 4, 4, 4], 2, .abort),
        (5, [5, 0, 1], 2, .abort),
        // Short: what came goes out, then an abort, never a clean end.
        (1, [], 0, .abort),
        (5, [4], 1, .abort),
        (10, [3, 3, 3], 3, .abort),
        (100_000, [65_536], 1, .abort),
    ]

    @Test("a body is sent while it fits its length; past the length or short of it, the connection aborts",
          arguments: lengths)
    func heldToItsLength(_ length: Int, _ sizes: [Int], _ sent: Int, _ last: Pulled) async throws {
        let steps = sizes.enumerated().map { i, n in ScriptedProducer.Step.bytes(Array(repeating: UInt8(97 + i % 26), count: n)) }
        var producer = DeclaredLengthProducer(ScriptedProducer(steps), length: length)
        let pieces = try await pullAll(&producer)
        let want = sizes.prefix(sent).filter { $0 > 0 }  // empty pieces are skipped by the channel
        let got = pieces.dropLast().map { piece -> Int in
            if case .bytes(let b) = piece { return b.count }
            return -1
        }
        #expect(got == want, "length \(length), pieces \(sizes): sent \(got), want \(want)")
        #expect(pieces.last == last, "length \(length), pieces \(sizes): last \(String(describing: pieces.last)), want \(last)")
        // The bytes that go out are the inner producer's, unchanged.
        let bytes = try concatenated(pieces)
        let wantBytes = sizes.enumerated().prefix(sent).flatMap { i, n in Array(repeating: UInt8(97 + i % 26), count: n) }
        #expect(bytes == wantBytes, "length \(length), pieces \(sizes): the bytes changed")
    }

    @Test("an overrun cancels the inner producer; an exact or short body does not", arguments: [
        (5, [5], 0), (5, [4], 0), (5, [6], 1), (5, [2, 2, 2], 1),
    ])
    func overrunCancelsInner(_ length: Int, _ sizes: [Int], _ cancels: Int) async throws {
        let calls = ProducerCalls()
        let steps = sizes.map { ScriptedProducer.Step.bytes(Array(repeating: 0x61, count: $0)) }
        var producer = DeclaredLengthProducer(ScriptedProducer(steps, calls: calls), length: length)
        _ = try await pullAll(&producer)
        #expect(calls.cancels == cancels, "length \(length), pieces \(sizes): \(calls.cancels) cancels, want \(cancels)")
    }

    @Test("a notifying piece past the length fails its promise with Overrun; one within it keeps its promise")
    func notifyingOverrunFailsThePromise() async throws {
        let promises = PromiseLog()
        let context = producerContext()
        var producer = DeclaredLengthProducer(
            ScriptedProducer([.notifying(Array("abc"), promises), .notifying(Array("de"), promises)]), length: 4
        )
        let first = producer.more(context)
        #expect(Pulled(first) == .notifyingBytes(Array("abc")))
        if case .notifying(_, let promise) = first { promise.succeed(()) }
        #expect(Pulled(producer.more(context)) == .abort)
        let outcomes = await promises.outcomes()
        #expect(outcomes == ["succeeded", "failed: Overrun"], "got \(outcomes)")
    }

    @Test("a file region is counted by its length, unread")
    func fileRegionCounts() throws {
        let file = try TemporaryFile(bytes: Array(repeating: 0x66, count: 100))
        let context = producerContext()
        let region = { (r: Range<Int>) in FileRegion(fileHandle: file.file.handle, readerIndex: r.lowerBound, endIndex: r.upperBound) }

        var exact = DeclaredLengthProducer(ScriptedProducer([.fileRegion(region(0..<60)), .fileRegion(region(60..<100))]), length: 100)
        #expect(Pulled(exact.more(context)) == .fileRegion(0..<60))
        #expect(Pulled(exact.more(context)) == .fileRegion(60..<100))
        #expect(Pulled(exact.more(context)) == .end)

        var over = DeclaredLengthProducer(ScriptedProducer([.fileRegion(region(0..<60)), .fileRegion(region(60..<100))]), length: 99)
        #expect(Pulled(over.more(context)) == .fileRegion(0..<60))
        #expect(Pulled(over.more(context)) == .abort)
    }

    @Test("waits pass through and do not count; the inner producer's abort stays an abort")
    func waitsAndAborts() async throws {
        var waiting = DeclaredLengthProducer(ScriptedProducer([.wait, .text("ab"), .wait, .text("c"), .wait]), length: 3)
        let context = producerContext()
        #expect(Pulled(waiting.more(context)) == .wait)
        #expect(try await pullAll(&waiting, context: context) == [.bytes(Array("ab")), .bytes(Array("c")), .end])

        var aborting = DeclaredLengthProducer(ScriptedProducer([.text("ab"), .abort]), length: 2)
        #expect(try await pullAll(&aborting) == [.bytes(Array("ab")), .abort], "an abort at the length is still an abort")
    }

    @Test("cancel reaches the inner producer")
    func cancelReachesInner() {
        let calls = ProducerCalls()
        var producer = DeclaredLengthProducer(ScriptedProducer([.text("abc")], calls: calls), length: 3)
        producer.cancel()
        #expect(calls.cancels == 1)
    }
}
