import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// How often the queue asked the connection to read again.
private final class WantedCount: Sendable {
    private let count = NIOLockedValueBox(0)
    func add() { count.withLockedValue { $0 += 1 } }
    var value: Int { count.withLockedValue { $0 } }
}

private func text(_ s: String) -> WebSocketMessage { .text(s) }

@Suite("WebSocket inbound queue")
struct WebSocketInboundQueueTests {
    @Test("queued messages are read in order without waiting, then nil once the input finished")
    func queuedThenEnd() async {
        let wanted = WantedCount()
        let queue = WebSocketInboundQueue(lowWatermark: 2, highWatermark: 4) { wanted.add() }
        #expect(queue.yield(text("a")))
        #expect(queue.yield(text("b")))
        queue.finish()
        #expect(queue.yield(text("after the end")))  // dropped: nothing reads past the end
        #expect(await queue.next() == text("a"))
        #expect(await queue.next() == text("b"))
        #expect(await queue.next() == nil)
        #expect(await queue.next() == nil)
        #expect(wanted.value == 0)
    }

    @Test("a reader waiting for a message gets the next one yielded, and nil when the input finishes")
    func waitingReader() async throws {
        let queue = WebSocketInboundQueue(lowWatermark: 1, highWatermark: 2) {}
        let reader = Task { () -> [WebSocketMessage?] in
            [await queue.next(), await queue.next()]
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(queue.yield(text("x")))
        try await Task.sleep(for: .milliseconds(50))
        queue.finish()
        #expect(await reader.value == [text("x"), nil])
    }

    @Test("at the high mark the connection is told to stop, and told to go on once the reader takes it below the low mark")
    func backpressure() async {
        let wanted = WantedCount()
        let queue = WebSocketInboundQueue(lowWatermark: 2, highWatermark: 4) { wanted.add() }
        #expect(queue.yield(text("1")))
        #expect(queue.yield(text("2")))
        #expect(queue.yield(text("3")))
        #expect(!queue.yield(text("4")))  // full: stop reading the socket
        #expect(await queue.next() == text("1"))  // 3 left
        #expect(await queue.next() == text("2"))  // 2 left: not below the low mark yet
        #expect(wanted.value == 0)
        #expect(await queue.next() == text("3"))  // 1 left: read on
        #expect(wanted.value == 1)
        #expect(await queue.next() == text("4"))
        #expect(wanted.value == 1)  // once per stop
    }

    @Test("a reader that goes away lets a held connection read on, and later messages are dropped")
    func readerGone() async {
        let wanted = WantedCount()
        let queue = WebSocketInboundQueue(lowWatermark: 1, highWatermark: 2) { wanted.add() }
        var reader: WebSocketInboundReader? = WebSocketInboundReader(queue)
        #expect(queue.yield(text("1")))
        #expect(!queue.yield(text("2")))
        #expect(reader != nil)
        reader = nil  // the handler returned, or broke out of its loop
        #expect(wanted.value == 1)
        #expect(queue.yield(text("3")))  // dropped, never holds the connection
        #expect(queue.yield(text("4")))
        #expect(await queue.next() == nil)
    }

    @Test("cancelling the task of a waiting reader ends its read with nil and lets the connection read on")
    func cancelledReader() async throws {
        let wanted = WantedCount()
        let queue = WebSocketInboundQueue(lowWatermark: 1, highWatermark: 2) { wanted.add() }
        let reader = Task { await queue.next() }
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        #expect(await reader.value == nil)
        #expect(wanted.value >= 1)
        #expect(queue.yield(text("late")))
        #expect(await queue.next() == nil)
    }

    @Test("a reader in an already cancelled task gets nil at once instead of waiting")
    func alreadyCancelled() async {
        let queue = WebSocketInboundQueue(lowWatermark: 1, highWatermark: 2) {}
        let reader = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await queue.next()
        }
        #expect(await reader.value == nil)
    }

    @Test("messages yielded from the loop while a reader runs on another thread all arrive, in order")
    func concurrentOrder() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let loop = group.next()
        let queue = WebSocketInboundQueue(lowWatermark: 8, highWatermark: 16) {}
        let count = 2000
        let reader = Task { () -> [Int] in
            var got: [Int] = []
            while let message = await queue.next() {
                if case .text(let s) = message { got.append(Int(s)!) }
            }
            return got
        }
        try await loop.submit {
            for i in 0..<count { _ = queue.yield(text(String(i))) }  // never held back: high mark ignored here
            queue.finish()
        }.get()
        let got = await reader.value
        // The queue holds at most what the reader has not taken: past the high mark the loop would have
        // stopped reading, here it went on, so the reader sees every message the queue took, in order.
        #expect(got == Array(0..<count))
    }
}

@Suite("Event loop task executor")
struct EventLoopTaskExecutorTests {
    @Test("jobs enqueued together run in one task of the loop, and wakes asked for in them run after the batch")
    func batches() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let loop = group.next()
        let executor = EventLoopTaskExecutor(loop)

        let log = NIOLockedValueBox<[String]>([])
        let started = try await loop.submit { () -> [Task<Void, Never>] in
            // Three tasks started in one loop task: their first jobs are queued together.
            (0..<3).map { i in
                Task(executorPreference: executor) {
                    let waker = ChatProducerWaker { log.withLockedValue { $0.append("wake \(i)") } }
                    let deferred = executor.afterBatch(waker)
                    log.withLockedValue { $0.append("job \(i) deferred \(deferred)") }
                }
            }
        }.get()
        for task in started { await task.value }
        #expect(
            log.withLockedValue { $0 } == [
                "job 0 deferred true", "job 1 deferred true", "job 2 deferred true", "wake 0", "wake 1", "wake 2",
            ]
        )
        // Outside a job (on the loop or not) there is no batch to wait for.
        #expect(!executor.afterBatch(ChatProducerWaker {}))
        let onLoop = try await loop.submit { () -> Bool in
            executor.afterBatch(ChatProducerWaker {})
        }.get()
        #expect(!onLoop)
    }
}
