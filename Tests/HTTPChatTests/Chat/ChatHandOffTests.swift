import NIOCore
import NIOEmbedded
import Testing

@testable import HTTPChatCore

/// A line protocol that, on the line `SWITCH`, answers `OK` and hands the connection to `next`.
private func switchingHarness(next: ScriptedProtocol) throws -> ChatHarness {
    try ChatHarness { first in
        first.onOpen = { chat in chat.terminator = .delimiter("\n") }
        first.onTerminator = { me, chat in
            if me.log.last == "frame:SWITCH" {
                chat.push("OK\n")
                chat.handOff(to: next)
            }
        }
    }
}

/// The second protocol: 4-byte count frames, echoed in brackets.
private func countProtocol() -> ScriptedProtocol {
    let next = ScriptedProtocol()
    next.onOpen = { chat in chat.terminator = .count(4) }
    next.onTerminator = { me, chat in
        chat.push("[" + me.log.last!.dropFirst("frame:".count) + "]")
        chat.terminator = .count(4)  // a count terminator is spent once found
    }
    return next
}

@Suite("Chat protocol hand-off")
struct ChatHandOffTests {
    static let input = "hello\nSWITCH\nabcdefgh"

    @Test("bytes received after the switching frame are framed by the new protocol, at every split point",
          arguments: 0...input.utf8.count)
    func handOffKeepsBufferedBytes(split: Int) throws {
        let next = countProtocol()
        let h = try switchingHarness(next: next)
        let bytes = Array(Self.input.utf8)
        try h.channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
        try h.channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
        h.channel.embeddedEventLoop.run()
        #expect(h.proto.log == ["open", "frame:hello", "frame:SWITCH"], "first: \(h.proto.log)")
        #expect(next.log == ["open", "frame:abcd", "frame:efgh"], "next: \(next.log)")
        #expect(try h.written() == "OK\n[abcd][efgh]")
    }

    @Test("after the hand-off, the old protocol is told nothing more: end of input and close go to the new one")
    func lifeEventsGoToTheNewProtocol() throws {
        let next = countProtocol()
        let h = try switchingHarness(next: next)
        try h.send("SWITCH\nabcd")
        h.channel.embeddedEventLoop.run()
        h.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        h.channel.embeddedEventLoop.run()
        #expect(h.proto.log == ["open", "frame:SWITCH"])
        #expect(next.log == ["open", "frame:abcd", "eof", "closed"], "\(next.log)")
    }

    @Test("a hand-off resumes input the old protocol had suspended")
    func handOffResumesInput() throws {
        let next = countProtocol()
        let h = try ChatHarness { first in
            first.onOpen = { chat in chat.terminator = .delimiter("\n") }
            first.onTerminator = { _, chat in chat.suspendInput() }  // as HTTP does while it answers
        }
        try h.send("GO\nwxyz")
        h.channel.embeddedEventLoop.run()
        #expect(next.log.isEmpty)
        h.chat.push("101\n")
        h.chat.handOff(to: next)
        h.channel.embeddedEventLoop.run()
        #expect(next.log == ["open", "frame:wxyz"], "\(next.log)")
        #expect(try h.written() == "101\n[wxyz]")
    }

    @Test("a hand-off after closeWhenDone is ignored")
    func noHandOffWhenClosing() throws {
        let next = countProtocol()
        let h = try ChatHarness { first in first.onOpen = { chat in chat.terminator = .delimiter("\n") } }
        h.chat.closeWhenDone()
        h.chat.handOff(to: next)
        #expect(next.log.isEmpty)
    }
}
