import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import HTTPChatTesting
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Whether each numbered write of a writer task has returned, and how.
private final class WriteLog: Sendable {
    private let entries = NIOLockedValueBox<[String]>([])
    func add(_ entry: String) { entries.withLockedValue { $0.append(entry) } }
    var all: [String] { entries.withLockedValue { $0 } }
}

/// Polls until `condition` holds, up to 5 s.
private func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite("Stream bridge")
struct StreamBridgeTests {
    @Test("written chunks are pulled in order, then the end once the handler finished")
    func chunksThenEnd() async throws {
        let bridge = StreamBridge(highWaterMark: 100, lowWaterMark: 10)
        try await bridge.write(ByteBuffer(string: "ab"))
        try await bridge.write(ByteBuffer(string: "cd"))
        bridge.finish()
        var producer = StreamBridgeProducer(bridge: bridge)
        #expect(try await pullAll(&producer) == [.bytes(Array("ab")), .bytes(Array("cd")), .end])
    }

    @Test("urgent chunks go ahead of queued data in the order they came, also when pulls come between them")
    func urgentChunksKeepTheirOrder() async throws {
        let bridge = StreamBridge(highWaterMark: 1_000, lowWaterMark: 10)
        try await bridge.write(ByteBuffer(string: "d1"))
        try await bridge.write(ByteBuffer(string: "d2"))
        for index in 0..<7 { #expect(bridge.enqueue(ByteBuffer(string: "p\(index)"), first: true)) }
        var producer = StreamBridgeProducer(bridge: bridge)
        let context = detachedPull().context
        var pulled: [String] = []
        for _ in 0..<3 {
            if case .bytes(let chunk) = producer.more(context) { pulled.append(String(buffer: chunk)) }
        }
        for index in 7..<10 { #expect(bridge.enqueue(ByteBuffer(string: "p\(index)"), first: true)) }
        bridge.finish()
        for output in try await pullAll(&producer) {
            if case .bytes(let bytes) = output { pulled.append(String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(pulled == (0..<10).map { "p\($0)" } + ["d1", "d2"])
    }

    @Test("a pull with nothing queued parks (no promise), and the next write, the finish or a failure wakes it",
          arguments: ["write", "finish", "fail", "abort"])
    func pullParks(_ event: String) async throws {
        let bridge = StreamBridge()
        let pull = detachedPull()
        #expect(Pulled(bridge.pull(pull.context)) == .park)
        switch event {
        case "write": try await bridge.write(ByteBuffer(string: "x"))
        case "finish": bridge.finish()
        case "abort": bridge.abort()
        default: bridge.fail()
        }
        await pull.parked()
        let want: Pulled = event == "write" ? .bytes(Array("x")) : event == "finish" ? .end : .abort
        #expect(Pulled(bridge.pull(pull.context)) == want, "\(event)")
    }

    @Test("a park is woken once per wait: a second write while still parked is taken by the same wake")
    func oneWakePerPark() async throws {
        let bridge = StreamBridge()
        let wakes = NIOLockedValueBox(0)
        let context = ChatProducerContext(
            allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.any(), preferredChunkSize: 1024,
            waker: ChatProducerWaker { wakes.withLockedValue { $0 += 1 } }
        )
        #expect(Pulled(bridge.pull(context)) == .park)
        try await bridge.write(ByteBuffer(string: "a"))
        try await bridge.write(ByteBuffer(string: "b"))
        // The wake runs on the context's loop (the writer is not in a batch of the connection's executor).
        #expect(try await eventually { wakes.withLockedValue { $0 } == 1 })
        try await Task.sleep(for: .milliseconds(20))
        #expect(wakes.withLockedValue { $0 } == 1)
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("a")))
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("b")))
        #expect(Pulled(bridge.pull(context)) == .park)
    }

    @Test("a failure drops what is queued, aborts the pull, and fails later writes")
    func failure() async throws {
        let bridge = StreamBridge()
        try await bridge.write(ByteBuffer(string: "queued"))
        bridge.fail()
        #expect(Pulled(bridge.pull(producerContext())) == .abort)
        await #expect(throws: BodyWriterError.connectionClosed) { try await bridge.write(ByteBuffer(string: "late")) }
    }

    @Test("a writer's abort sends what it queued, then aborts the body; later writes fail")
    func abortAfterQueued() async throws {
        let bridge = StreamBridge()
        try await bridge.write(ByteBuffer(string: "taken"))
        bridge.abort()
        await #expect(throws: BodyWriterError.connectionClosed) { try await bridge.write(ByteBuffer(string: "late")) }
        var producer = StreamBridgeProducer(bridge: bridge)
        #expect(try await pullAll(&producer) == [.bytes(Array("taken")), .abort])
    }

    @Test("a write after the finish fails; what was queued still goes out")
    func writeAfterFinish() async throws {
        let bridge = StreamBridge()
        try await bridge.write(ByteBuffer(string: "a"))
        bridge.finish()
        await #expect(throws: BodyWriterError.connectionClosed) { try await bridge.write(ByteBuffer(string: "b")) }
        var producer = StreamBridgeProducer(bridge: bridge)
        #expect(try await pullAll(&producer) == [.bytes(Array("a")), .end])
    }

    @Test("a writer over the high-water mark waits until pulls bring the queue to the low-water mark")
    func backpressure() async throws {
        let bridge = StreamBridge(highWaterMark: 10, lowWaterMark: 4)
        let log = WriteLog()
        let writer = Task {
            try await bridge.write(ByteBuffer(string: "12345678"))  // 8 queued: under the mark
            log.add("first")
            try await bridge.write(ByteBuffer(string: "abcdefgh"))  // 16 queued: over it
            log.add("second")
        }
        #expect(try await eventually { log.all == ["first"] })
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.all == ["first"], "the writer went on over the high-water mark")
        let context = producerContext()
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("12345678")))  // 8 left: over the low mark
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.all == ["first"], "the writer went on above the low-water mark")
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("abcdefgh")))  // 0 left
        try await writer.value
        #expect(log.all == ["first", "second"])
    }

    @Test("a writer waiting on backpressure is failed when the connection goes (the producer is cancelled)")
    func cancelWakesTheWriter() async throws {
        let bridge = StreamBridge(highWaterMark: 4, lowWaterMark: 1)
        let writer = Task { try await bridge.write(ByteBuffer(string: "too many bytes")) }
        try await Task.sleep(for: .milliseconds(20))
        var producer = StreamBridgeProducer(bridge: bridge)
        producer.cancel()
        await #expect(throws: BodyWriterError.connectionClosed) { try await writer.value }
        #expect(Pulled(producer.more(producerContext())) == .abort)
    }

    @Test("writeIfRoom queues below the high-water mark, refuses (queuing nothing) what would pass it, and says closed once finished")
    func writeIfRoom() async throws {
        let bridge = StreamBridge(highWaterMark: 8, lowWaterMark: 2)
        #expect(bridge.writeIfRoom(ByteBuffer(string: "1234")) == .written)
        #expect(bridge.writeIfRoom(ByteBuffer(string: "5678")) == .written)  // exactly at the mark
        #expect(bridge.writeIfRoom(ByteBuffer(string: "9")) == .full)
        let context = producerContext()
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("1234")))
        #expect(bridge.writeIfRoom(ByteBuffer(string: "9")) == .written)
        bridge.finish()
        #expect(bridge.writeIfRoom(ByteBuffer(string: "late")) == .closed)
        var producer = StreamBridgeProducer(bridge: bridge)
        #expect(try await pullAll(&producer) == [.bytes(Array("5678")), .bytes(Array("9")), .end])
    }

    @Test("while a writer waits for room, writeIfRoom queues nothing: it may not keep the queue up and starve the waiting writer")
    func writeIfRoomYieldsToAWaitingWriter() async throws {
        let bridge = StreamBridge(highWaterMark: 8, lowWaterMark: 2)
        #expect(bridge.writeIfRoom(ByteBuffer(string: "12345")) == .written)
        let waiting = Task { try await bridge.write(ByteBuffer(string: "6789")) }  // 9 queued: over the mark
        let context = producerContext()
        #expect(try await eventually { bridge.isWriterWaiting })
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("12345")))  // 4 left: room, but above the low mark
        #expect(bridge.writeIfRoom(ByteBuffer(string: "ab")) == .full, "a writer that does not wait overtook the waiting one")
        #expect(Pulled(bridge.pull(context)) == .bytes(Array("6789")))  // 0 left: the waiting writer goes on
        try await waiting.value
        #expect(bridge.writeIfRoom(ByteBuffer(string: "ab")) == .written)
    }

    @Test("writeIfRoom wakes a parked pull")
    func writeIfRoomWakes() async throws {
        let bridge = StreamBridge()
        let pull = detachedPull()
        #expect(Pulled(bridge.pull(pull.context)) == .park)
        #expect(bridge.writeIfRoom(ByteBuffer(string: "x")) == .written)
        await pull.parked()
        #expect(Pulled(bridge.pull(pull.context)) == .bytes(Array("x")))
    }

    @Test("bytes enqueued as the last ones end the body in the same step: every later write is refused")
    func enqueueFinishing() async throws {
        let bridge = StreamBridge()
        try await bridge.write(ByteBuffer(string: "data"))
        #expect(bridge.enqueue(ByteBuffer(string: "close"), finishing: true))
        #expect(bridge.writeIfRoom(ByteBuffer(string: "after")) == .closed)
        await #expect(throws: BodyWriterError.connectionClosed) { try await bridge.write(ByteBuffer(string: "after")) }
        #expect(!bridge.enqueue(ByteBuffer(string: "pong")))
        var producer = StreamBridgeProducer(bridge: bridge)
        #expect(try await pullAll(&producer) == [.bytes(Array("data")), .bytes(Array("close")), .end])
    }

    @Test("BodyWriter skips empty writes and writes strings as UTF-8")
    func bodyWriter() async throws {
        let collector = CollectingWriter()
        let writer = BodyWriter(collector)
        try await writer.write(ByteBuffer())
        try await writer.write("é")
        try await writer.write("")
        try await writer.write(ByteBuffer(string: "!"))
        #expect(Array(collector.bytes.readableBytesView) == Array("é!".utf8))
    }
}
