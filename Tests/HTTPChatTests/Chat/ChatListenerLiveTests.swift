import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TestSupport
import Testing

@testable import HTTPChatCore

/// Sends one big producer to every client, counting what it produced.
final class Firehose: ChatProtocol {
    let total: Int
    let produced: Counter
    init(total: Int, produced: Counter) {
        self.total = total
        self.produced = produced
    }
    func channelOpened(_ chat: ChatChannel) {
        chat.push(producer: CountingProducer(total: total, chunkSize: 64 * 1024, produced: produced))
        chat.closeWhenDone()
    }
    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {}
    func foundTerminator(chat: ChatChannel) {}
}

/// Echoes each line back, upper-cased.
final class Shout: ChatProtocol {
    var line = ByteBuffer()
    func channelOpened(_ chat: ChatChannel) { chat.terminator = .delimiter("\n") }
    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        var data = data
        line.writeBuffer(&data)
    }
    func foundTerminator(chat: ChatChannel) {
        chat.push(String(buffer: line).uppercased() + "\n")
        line.clear()
    }
}

@Suite("ChatListener live")
struct ChatListenerLiveTests {
    @Test("binding port 0 reports the real port, and connections are served on it")
    func bindsPortZero() async throws {
        let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) { Shout() }
        #expect(listener.port > 0)
        let client = try TestSocket(port: listener.port)
        try client.send("hello\nwor")
        try client.send("ld\n")
        #expect(try client.readLine() == "HELLO")
        #expect(try client.readLine() == "WORLD")
        await listener.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a half-closed client still gets every answer, then the connection closes")
    func halfCloseGetsAnswers() async throws {
        let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) { Shout() }
        let client = try TestSocket(port: listener.port)
        try client.send("a\nb\nc\n")
        client.shutdownWrite()
        #expect(String(decoding: try client.readToEnd(), as: UTF8.self) == "A\nB\nC\n")
        await listener.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a 100 MiB producer to a slow reader over a real socket stays a bounded distance ahead")
    func slowReaderBounded() async throws {
        let produced = Counter()
        let total = 100 * 1024 * 1024
        let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) {
            Firehose(total: total, produced: produced)
        }
        let client = try TestSocket(port: listener.port, receiveBuffer: 64 * 1024)
        let (received, maxAhead) = try await blocking { () -> (Int, Int) in
            var received = 0
            var maxAhead = 0
            var reads = 0
            while received < total {
                let chunk = try client.readSome(max: 256 * 1024)
                if chunk.isEmpty { break }
                received += chunk.count
                reads += 1
                maxAhead = max(maxAhead, produced.value - received)
                if reads % 64 == 0 { usleep(1_000) }  // a slow reader
            }
            return (received, maxAhead)
        }
        #expect(received == total)
        // Kernel socket buffers (both ends) plus the high-water mark: megabytes, not the 100 MiB total.
        #expect(maxAhead < 16 * 1024 * 1024, "the producer ran \(maxAhead) bytes ahead of the reader")
        await listener.shutdown(gracePeriod: .seconds(1))
    }

    @Test("shutdown stops accepting and closes open connections after their pending output", .timeLimit(.minutes(1)))
    func shutdownClosesConnections() async throws {
        let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) { Shout() }
        let a = try TestSocket(port: listener.port)
        try a.send("x\n")
        #expect(try a.readLine() == "X")
        #expect(listener.connectionCount == 1)
        await listener.shutdown(gracePeriod: .seconds(2))
        #expect(try a.readToEnd().isEmpty)
        try await listener.onClose.get()
        #expect(try await noLongerListening(port: listener.port) { _ in
            try await Task.sleep(for: .milliseconds(100))
            return listener.connectionCount > 0
        })
        #expect(listener.connectionCount == 0)
    }
}
