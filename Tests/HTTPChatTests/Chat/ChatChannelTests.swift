import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import HTTPChatCore

/// A producer of `total` bytes in chunks of the preferred size, counting what it has handed out.
struct CountingProducer: ChatProducer {
    let total: Int
    let chunk: ByteBuffer
    let produced: Counter
    var sent = 0

    init(total: Int, chunkSize: Int, produced: Counter) {
        self.total = total
        self.chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: chunkSize)
        self.produced = produced
    }

    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        guard sent < total else { return .end }
        let n = Swift.min(chunk.readableBytes, total - sent)
        sent += n
        produced.add(n)
        return .bytes(chunk.getSlice(at: chunk.readerIndex, length: n)!)
    }
}

/// What a ``ParkingProducer`` hands out: the test puts items in, the producer takes them, parking while there
/// are none; it records its pulls and keeps the waker it was given.
final class ParkingInbox: Sendable {
    let items = NIOLockedValueBox<[String]>([])
    let waker = NIOLockedValueBox<ChatProducerWaker?>(nil)
    let pulledOnLoop = NIOLockedValueBox<[Bool]>([])
    var pulls: Int { pulledOnLoop.withLockedValue { $0.count } }
}

/// Hands out its inbox's items as bytes ("end" ends it), answering `.park` while the inbox is empty.
struct ParkingProducer: ChatProducer {
    let inbox: ParkingInbox
    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        inbox.pulledOnLoop.withLockedValue { $0.append(context.eventLoop.inEventLoop) }
        inbox.waker.withLockedValue { $0 = context.waker }
        let next = inbox.items.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() }
        guard let next else { return .park }
        return next == "end" ? .end : .bytes(context.allocator.buffer(string: next))
    }
}

/// A thread-safe counter for producers that are `Sendable`.
final class Counter: Sendable {
    private let box = NIOLockedValueBox(0)
    func add(_ n: Int) { box.withLockedValue { $0 += n } }
    var value: Int { box.withLockedValue { $0 } }
}

/// A socket stand-in: accepts writes until `capacity` bytes are pending, then reports unwritable.
final class SlowSocket: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData
    let capacity: Int
    var pending = 0
    var received = 0
    init(capacity: Int) { self.capacity = capacity }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let io = unwrapOutboundIn(data)
        if case .byteBuffer(let b) = io { pending += b.readableBytes }
        if pending >= capacity, let embedded = context.channel as? EmbeddedChannel {
            embedded.isWritable = false
        }
        promise?.succeed(())  // swallowed: the test counts bytes, it does not keep them
    }

    /// The peer reads everything pending; the socket becomes writable again.
    func drain(_ channel: EmbeddedChannel) {
        received += pending
        pending = 0
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
    }
}

@Suite("ChatChannel")
struct ChatChannelTests {
    @Test("collectIncomingData and foundTerminator follow the terminator set in channelOpened")
    func framesInput() throws {
        let h = try ChatHarness { p in p.onOpen = { $0.terminator = .delimiter("\r\n") } }
        try h.send("one\r\ntw")
        try h.send("o\r\n")
        #expect(h.proto.log == ["open", "frame:one", "frame:two"])
    }

    @Test("a terminator changed inside foundTerminator frames the bytes already received")
    func switchesTerminatorWithBufferedBytes() throws {
        let h = try ChatHarness { p in
            p.onOpen = { $0.terminator = .delimiter("\n") }
            p.onTerminator = { p, chat in
                chat.terminator = p.log.last == "frame:LEN 3" ? .count(3) : .delimiter("\n")
            }
        }
        try h.send("LEN 3\nabcNEXT\n")
        #expect(h.proto.log == ["open", "frame:LEN 3", "frame:abc", "frame:NEXT"])
    }

    @Test("bytes and producers are written in push order")
    func keepsOrder() throws {
        let h = try ChatHarness()
        h.chat.push("1")
        h.chat.push(producer: BufferProducer(ByteBuffer(string: "234")))
        h.chat.push("5")
        h.chat.push(producer: BufferProducer(ByteBuffer(string: "6")))
        h.chat.push("7")
        #expect(try h.written() == "1234567")
    }

    @Test("a producer is pulled in chunks of outBufferSize")
    func producerChunkSize() throws {
        var config = ChatConfiguration()
        config.outBufferSize = 4
        let h = try ChatHarness(configuration: config)
        h.chat.push(producer: BufferProducer(ByteBuffer(string: "abcdefghij")))
        var chunks: [String] = []
        while let data = try h.channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let b) = data { chunks.append(String(buffer: b)) }
        }
        #expect(chunks == ["abcd", "efgh", "ij"])
    }

    @Test("closeWhenDone closes only after everything queued before it is written")
    func closeWhenDoneAfterOutput() throws {
        let h = try ChatHarness()
        h.channel.isWritable = false
        h.chat.push("queued ")
        h.chat.push(producer: BufferProducer(ByteBuffer(string: "produced")))
        h.chat.closeWhenDone()
        h.chat.push("after close: dropped")
        #expect(h.channel.isActive)
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        h.channel.embeddedEventLoop.run()
        #expect(try h.written() == "queued produced")
        #expect(!h.channel.isActive)
        #expect(h.proto.log.last == "closed")
    }

    @Test("a producer that aborts: what it handed out is sent, the rest of the queue is dropped, the channel closes")
    func producerAbort() throws {
        struct Failing: ChatProducer {
            var step = 0
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
                step += 1
                return step == 1 ? .bytes(ByteBuffer(string: "partial")) : .abort
            }
        }
        let h = try ChatHarness()
        h.chat.push("head ")
        h.chat.push(producer: Failing())
        h.chat.push("after: dropped")
        h.chat.push(producer: BufferProducer(ByteBuffer(string: "dropped too")))
        h.channel.embeddedEventLoop.run()
        #expect(try h.written() == "head partial")
        #expect(!h.channel.isActive)
        #expect(h.proto.log.last == "closed")
    }

    @Test("discardBuffers drops queued output and buffered input, cancelling producers")
    func discardBuffers() throws {
        struct Cancellable: ChatProducer {
            let cancelled: Counter
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput { .end }
            mutating func cancel() { cancelled.add(1) }
        }
        let cancelled = Counter()
        let h = try ChatHarness { p in p.onOpen = { $0.terminator = .delimiter("\n") } }
        h.channel.isWritable = false
        h.chat.push("dropped")
        h.chat.push(producer: Cancellable(cancelled: cancelled))
        h.chat.suspendInput()
        try h.send("buffered line")
        #expect(h.chat.bufferedInputBytes == 13)
        h.chat.discardBuffers()
        h.chat.resumeInput()
        #expect(cancelled.value == 1)
        #expect(h.chat.queuedOutputBytes == 0)
        #expect(h.chat.bufferedInputBytes == 0)
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        h.chat.push("kept")
        try h.send("\n")
        #expect(try h.written() == "kept")
        #expect(h.proto.log.last == "frame:")
    }

    @Test("an asynchronous producer waits for its data without blocking, then continues in order")
    func asyncProducer() throws {
        struct Later: ChatProducer {
            let ready: EventLoopFuture<Void>
            var step = 0
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
                step += 1
                switch step {
                case 1: return .bytes(context.allocator.buffer(string: "a"))
                case 2: return .wait(ready)
                case 3: return .bytes(context.allocator.buffer(string: "b"))
                default: return .end
                }
            }
        }
        let h = try ChatHarness()
        let promise = h.channel.eventLoop.makePromise(of: Void.self)
        h.chat.push(producer: Later(ready: promise.futureResult))
        h.chat.push("c")
        #expect(try h.written() == "a")
        promise.succeed(())
        h.channel.embeddedEventLoop.run()
        #expect(try h.written() == "bc")
    }

    @Test("a producer that parks is pulled again when its waker is woken, on the loop or from another thread, and the output keeps its order")
    func parkedProducer() throws {
        let h = try ChatHarness()
        let inbox = ParkingInbox()
        h.chat.push(producer: ParkingProducer(inbox: inbox))
        h.chat.push("!")
        #expect(try h.written() == "")
        #expect(inbox.pulls == 1)
        // Woken on the loop: pulled at once, and parks again once the inbox is empty.
        inbox.items.withLockedValue { $0 = ["a", "b"] }
        inbox.waker.withLockedValue { $0 }?.wake()
        #expect(try h.written() == "ab")
        #expect(inbox.pulls == 4)
        // A wake with nothing new is one more pull, and the producer parks again.
        inbox.waker.withLockedValue { $0 }?.wake()
        #expect(inbox.pulls == 5)
        #expect(try h.written() == "")
        inbox.items.withLockedValue { $0 = ["c", "end"] }
        inbox.waker.withLockedValue { $0 }?.wake()
        #expect(try h.written() == "c!")  // the producer ended; the bytes pushed after it follow
    }

    @Test("a parked producer woken from another thread is pulled on its channel's loop")
    func parkedProducerWokenOffLoop() async throws {
        let channel = NIOAsyncTestingChannel()
        let inbox = ParkingInbox()
        try await channel.eventLoop.submit {
            try ChatChannel.serve(ScriptedProtocol(), configuration: ChatConfiguration(), on: channel)
        }.get()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        try await channel.eventLoop.submit {
            let handler = try channel.pipeline.syncOperations.handler(type: ChatChannelHandler.self)
            handler.chat.push(producer: ParkingProducer(inbox: inbox))
        }.get()
        let waker = try #require(inbox.waker.withLockedValue { $0 })
        inbox.items.withLockedValue { $0 = ["off", "end"] }
        #expect(!channel.eventLoop.inEventLoop)
        waker.wake()  // from the test's thread
        let written = try await channel.waitForOutboundWrite(as: IOData.self)
        guard case .byteBuffer(let bytes) = written else {
            Issue.record("not bytes: \(written)")
            return
        }
        #expect(String(buffer: bytes) == "off")
        #expect(inbox.pulledOnLoop.withLockedValue { $0 }.allSatisfy { $0 })
        #expect(inbox.pulls >= 2)
        _ = try? await channel.finish()
    }

    @Test("a wake that comes while the producer runs is not lost: its park is pulled again at once")
    func wakeWhileRunning() throws {
        struct WakesItself: ChatProducer {
            var step = 0
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
                step += 1
                switch step {
                case 1:
                    context.waker.wake()  // data arrives while the producer is being pulled, before it parks
                    return .park
                case 2: return .bytes(context.allocator.buffer(string: "late"))
                default: return .end
                }
            }
        }
        let h = try ChatHarness()
        h.chat.push(producer: WakesItself())
        h.chat.push("!")
        #expect(try h.written() == "late!")
    }

    @Test("a parked producer is cancelled when the connection closes, and a wake after that does nothing")
    func parkedProducerCancelled() throws {
        final class Seen: Sendable {
            let cancels = NIOLockedValueBox(0)
            let waker = NIOLockedValueBox<ChatProducerWaker?>(nil)
        }
        struct Parks: ChatProducer {
            let seen: Seen
            mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
                seen.waker.withLockedValue { $0 = context.waker }
                return .park
            }
            mutating func cancel() { seen.cancels.withLockedValue { $0 += 1 } }
        }
        let h = try ChatHarness()
        let seen = Seen()
        h.chat.push(producer: Parks(seen: seen))
        try h.channel.close().wait()
        #expect(seen.cancels.withLockedValue { $0 } == 1)
        seen.waker.withLockedValue { $0 }?.wake()
        #expect(seen.cancels.withLockedValue { $0 } == 1)
    }

    @Test("a 100 MiB producer is pulled lazily: queued bytes stay bounded by the socket's capacity")
    func largeProducerIsLazy() throws {
        let socket = SlowSocket(capacity: 256 * 1024)
        let h = try ChatHarness(extraHandlers: [socket])
        let produced = Counter()
        let total = 100 * 1024 * 1024
        h.chat.push(producer: CountingProducer(total: total, chunkSize: 64 * 1024, produced: produced))
        var maxAhead = 0
        var rounds = 0
        while socket.received + socket.pending < total && rounds < 100_000 {
            maxAhead = Swift.max(maxAhead, produced.value - socket.received)
            socket.drain(h.channel)
            rounds += 1
        }
        socket.drain(h.channel)
        #expect(socket.received == total)
        #expect(maxAhead <= 256 * 1024 + 64 * 1024, "got \(maxAhead) bytes pulled ahead of the reader")
        #expect(rounds > 100, "the producer should have been pulled across many writability turns")
    }

    @Test("reading pauses while output is above the high-water mark and resumes at the low-water mark")
    func readBackpressure() throws {
        var config = ChatConfiguration()
        config.outputHighWaterMark = 100
        config.outputLowWaterMark = 10
        let h = try ChatHarness(configuration: config)
        h.channel.isWritable = false
        h.chat.push(String(repeating: "x", count: 150))
        let before = h.readCounter.reads
        h.channel.read()
        #expect(h.readCounter.reads == before, "a read passed while output was above the high-water mark")
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        #expect(h.readCounter.reads == before + 1, "the withheld read was not resumed")
        #expect(try h.written().count == 150)
    }

    @Test("suspendInput buffers input and withholds reads; resumeInput frames what was buffered")
    func suspendAndResume() throws {
        let h = try ChatHarness { p in
            p.onOpen = { $0.terminator = .delimiter("\n") }
            p.onTerminator = { _, chat in chat.suspendInput() }
        }
        try h.send("a\nb\nc\n")
        #expect(h.proto.log == ["open", "frame:a"])
        let before = h.readCounter.reads
        h.channel.read()
        #expect(h.readCounter.reads == before)
        h.chat.resumeInput()
        #expect(h.proto.log == ["open", "frame:a", "frame:b"])
        h.chat.resumeInput()
        h.chat.resumeInput()
        #expect(h.proto.log == ["open", "frame:a", "frame:b", "frame:c"])
        h.chat.resumeInput()
        #expect(h.readCounter.reads == before + 1)
    }

    @Test("an over-long delimited frame reaches inputFailed; the default answer closes the connection")
    func overlongFrame() throws {
        var config = ChatConfiguration()
        config.maxDelimitedLength = 8
        let h = try ChatHarness(configuration: config) { p in
            p.onOpen = { $0.terminator = .delimiter("\n") }
            p.onFailure = { _, chat in
                chat.push("too long\n")
                chat.closeWhenDone()
            }
        }
        try h.send("ok\n0123456789abcdef\n")
        h.channel.embeddedEventLoop.run()
        #expect(h.proto.log == ["open", "frame:ok", "failed", "closed"])
        #expect(try h.written() == "too long\n")
        #expect(!h.channel.isActive)
    }

    @Test("end of input is reported after buffered frames, and the default closes after pending output")
    func inputClosedAfterFrames() throws {
        let h = try ChatHarness { p in
            p.onOpen = { $0.terminator = .delimiter("\n") }
            p.onTerminator = { p, chat in chat.push("ack \(p.log.count)\n") }
        }
        try h.send("x\ny\n")
        h.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        h.channel.embeddedEventLoop.run()
        #expect(h.proto.log == ["open", "frame:x", "frame:y", "eof", "closed"])
        #expect(try h.written() == "ack 2\nack 3\n")
    }

    @Test("a terminator set outside a callback frames buffered input on the next loop turn")
    func terminatorSetLater() throws {
        var config = ChatConfiguration()
        config.maxDelimitedLength = 4
        let h = try ChatHarness(configuration: config) { p in
            p.onOpen = { $0.terminator = .delimiter("\n") }
            p.onFailure = { _, _ in }  // leave framing stopped; the input stays buffered
        }
        try h.send("0123456789\nab\n")
        #expect(h.proto.log == ["open", "failed"])
        h.chat.terminator = .count(1)
        #expect(h.proto.log == ["open", "failed"], "framing must not re-enter from a property setter")
        h.channel.embeddedEventLoop.run()
        #expect(h.proto.log == ["open", "failed", "frame:01234"], "0123 was collected before the failure, 4 by the count")
        #expect(String(decoding: h.proto.collected, as: UTF8.self) == "56789\nab\n")
    }
}
