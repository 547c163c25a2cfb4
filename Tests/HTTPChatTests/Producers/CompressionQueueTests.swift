import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import HTTPChatServer

@Suite("Compression queue")
struct CompressionQueueTests {
    private func drain(_ queue: inout CompressionQueue<String>) -> [String] {
        var order: [String] = []
        while let job = queue.next() { order.append(job) }
        return order
    }

    @Test("the slice of the response with the fewest bytes left runs first")
    func fewestBytesFirst() {
        var queue = CompressionQueue<String>()
        queue.add("500 KB", remaining: 500_000, started: 1_000_000)
        queue.add("20 KB", remaining: 20_000, started: 1_000_000)
        queue.add("100 KB", remaining: 100_000, started: 1_000_000)
        queue.add("empty", remaining: 0, started: 1_000_000)
        #expect(queue.count == 4)
        #expect(drain(&queue) == ["empty", "20 KB", "100 KB", "500 KB"])
        #expect(queue.count == 0)
        #expect(queue.next() == nil)
    }

    @Test("responses of one size run oldest first, and the first added among equals: one after another, not in turns")
    func oldestFirstAmongEquals() {
        var queue = CompressionQueue<String>()
        let ms: UInt64 = 1_000_000
        queue.add("c", remaining: 500_000, started: 30 * ms)
        queue.add("a", remaining: 500_000, started: 10 * ms)
        queue.add("b1", remaining: 500_000, started: 20 * ms)
        queue.add("b2", remaining: 500_000, started: 20 * ms)
        #expect(drain(&queue) == ["a", "b1", "b2", "c"])

        // The oldest stream's next slice (fewer bytes left now) still goes before the others' first.
        queue.add("b", remaining: 500_000, started: 20 * ms)
        queue.add("a, second slice", remaining: 436_000, started: 10 * ms)
        #expect(drain(&queue) == ["a, second slice", "b"])
    }

    @Test("every eighth pick goes to the oldest response waiting, however many short ones keep coming: nothing starves")
    func oldestGetsATurn() {
        var queue = CompressionQueue<String>()
        let turn = CompressionQueue<String>.oldestTurn
        queue.add("big", remaining: 10_000_000, started: 1)
        var order: [String] = []
        for i in 0..<(3 * turn) {
            // A new short response arrives before each pick.
            queue.add("small \(i)", remaining: 20_000, started: UInt64(100 + i))
            let job = queue.next()!
            order.append(job)
            if job == "big" { queue.add("big", remaining: 10_000_000 - 65_536, started: 1) }  // its next slice
        }
        let bigPicks = order.indices.filter { order[$0] == "big" }
        #expect(bigPicks == [turn - 1, 2 * turn - 1, 3 * turn - 1])
        // The short ones run in order of arrival among themselves.
        let small = order.filter { $0 != "big" }
        #expect(small == (0..<small.count).map { "small \($0)" })
    }

    @Test("the pool runs waiting slices in the queue's order, whatever order they were submitted in")
    func poolFollowsTheQueue() async throws {
        let pool = CompressionPool(threads: 1)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let gate = DispatchSemaphore(value: 0)
        let order = NIOLockedValueBox<[Int]>([])
        // One slice holds the only thread, so the rest wait in the queue.
        let blocker = pool.run(remaining: 1, started: 0, on: loop) { gate.wait() }
        let started: UInt64 = 1_000_000_000
        var futures: [EventLoopFuture<Int>] = []
        for remaining in [300_000, 100_000, 400_000, 200_000] {
            futures.append(pool.run(remaining: remaining, started: started, on: loop) {
                order.withLockedValue { $0.append(remaining) }
                return remaining
            })
        }
        gate.signal()
        try await blocker.get()
        for (future, remaining) in zip(futures, [300_000, 100_000, 400_000, 200_000]) {
            #expect(try await future.get() == remaining)
        }
        #expect(order.withLockedValue { $0 } == [100_000, 200_000, 300_000, 400_000])
    }

    @Test("a slice that throws fails its own future only")
    func aThrowingSlice() async throws {
        struct Failed: Error {}
        let pool = CompressionPool(threads: 1)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let failing = pool.run(remaining: 10, started: 0, on: loop) { () throws -> Int in throw Failed() }
        let fine = pool.run(remaining: 20, started: 0, on: loop) { 7 }
        await #expect(throws: Failed.self) { try await failing.get() }
        #expect(try await fine.get() == 7)
    }
}
