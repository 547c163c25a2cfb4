import NIOCore
import NIOEmbedded
import Testing

@testable import HTTPChatCore

/// An embedded connection from `peer` whose protocol is a ``ProxyProtocolReader`` in front of a line protocol.
private struct ReaderHarness {
    let channel = EmbeddedChannel()
    let chat: ChatChannel
    let next = ScriptedProtocol()

    init(peer: String, trusted: [String] = ["127.0.0.1", "10.0.0.0/8"], timeout: Duration = .seconds(5)) throws {
        channel.remoteAddress = try SocketAddress(ipAddress: peer, port: 40000)
        let next = self.next
        next.onOpen = { chat in chat.terminator = .delimiter("\n") }
        let reader = ProxyProtocolReader(trusted: try trusted.map { try CIDR($0) }, timeout: timeout) { next }
        chat = ChatChannel(protocol: reader, configuration: ChatConfiguration(), channel: channel)
        try channel.pipeline.syncOperations.addHandler(ChatChannelHandler(chat: chat))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
    }

    func send(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        channel.embeddedEventLoop.run()
    }

    var isOpen: Bool { channel.isActive }
}

@Suite("PROXY protocol reader")
struct ProxyProtocolReaderTests {
    @Test("a trusted proxy's v1 header makes its client the remote address; the bytes after it reach the next protocol")
    func trustedV1() throws {
        let h = try ReaderHarness(peer: "10.1.2.3")
        try h.send(Array("PROXY TCP4 203.0.113.9 10.0.0.1 5000 80\r\nhello\nwor".utf8))
        #expect(h.chat.remoteAddress?.ipAddress == "203.0.113.9", "got \(String(describing: h.chat.remoteAddress))")
        #expect(h.chat.peerAddress?.ipAddress == "10.1.2.3")
        #expect(h.next.log == ["open", "frame:hello"], "\(h.next.log)")
        try h.send(Array("ld\n".utf8))
        #expect(h.next.log == ["open", "frame:hello", "frame:world"])
        #expect(h.isOpen)
    }

    @Test("a v2 LOCAL header (a proxy's health check) keeps the peer as the remote address")
    func local() throws {
        let h = try ReaderHarness(peer: "127.0.0.1")
        try h.send(proxyV2(command: 0x20, family: 0, block: []) + Array("ping\n".utf8))
        #expect(h.chat.remoteAddress?.ipAddress == "127.0.0.1")
        #expect(h.next.log == ["open", "frame:ping"])
    }

    @Test("a peer that is not a trusted proxy is closed at once, before a byte is read, even with a valid header")
    func untrustedClosed() throws {
        let h = try ReaderHarness(peer: "192.0.2.50")
        #expect(!h.isOpen, "an untrusted peer's connection stayed open")
        #expect(h.next.log.isEmpty)
        #expect(h.chat.remoteAddress?.ipAddress == "192.0.2.50")
    }

    @Test("a malformed header closes the connection without an answer and without reaching the next protocol", arguments: malformedProxyCases)
    func malformedClosed(_ c: MalformedProxyCase) throws {
        let h = try ReaderHarness(peer: "127.0.0.1")
        try h.send(c.bytes + followingRequest)
        #expect(!h.isOpen, "\(c.name): still open")
        #expect(h.next.log.isEmpty, "\(c.name): \(h.next.log)")
        #expect(try h.channel.readOutbound(as: IOData.self) == nil, "\(c.name): something was written")
    }

    @Test("a header that does not arrive within the timeout closes the connection; one that does stops the timer")
    func timeout() throws {
        let slow = try ReaderHarness(peer: "127.0.0.1", timeout: .seconds(2))
        try slow.send(Array("PROXY TCP4 203.0.".utf8))
        slow.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(slow.isOpen)
        slow.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!slow.isOpen, "open after the PROXY header timeout")

        let prompt = try ReaderHarness(peer: "127.0.0.1", timeout: .seconds(2))
        try prompt.send(Array("PROXY UNKNOWN\r\n".utf8))
        prompt.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(prompt.isOpen, "the timer outlived the header")
        #expect(prompt.next.log == ["open"])
    }

    @Test("the end of input before the header ends closes the connection")
    func endOfInput() throws {
        let h = try ReaderHarness(peer: "127.0.0.1")
        try h.send(Array("PROXY TCP4".utf8))
        h.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        h.channel.embeddedEventLoop.run()
        #expect(!h.isOpen)
        #expect(h.next.log.isEmpty)
    }
}
