import NIOCore
import NIOEmbedded

@testable import HTTPChatCore

/// A protocol whose behaviour each test supplies as closures, recording what it was told.
final class ScriptedProtocol: ChatProtocol {
    var log: [String] = []
    var collected: [UInt8] = []
    var onOpen: (ChatChannel) -> Void = { _ in }
    var onTerminator: (ScriptedProtocol, ChatChannel) -> Void = { _, _ in }
    var onFailure: ((ChatFramingError, ChatChannel) -> Void)?
    var onInputClosed: ((ChatChannel) -> Void)?

    func channelOpened(_ chat: ChatChannel) {
        log.append("open")
        onOpen(chat)
    }

    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        collected += data.readableBytesView
    }

    func foundTerminator(chat: ChatChannel) {
        log.append("frame:" + String(decoding: collected, as: UTF8.self))
        collected = []
        onTerminator(self, chat)
    }

    func inputFailed(_ error: ChatFramingError, chat: ChatChannel) {
        log.append("failed")
        if let onFailure { onFailure(error, chat) } else { chat.closeWhenDone() }
    }

    func inputClosed(chat: ChatChannel) {
        log.append("eof")
        if let onInputClosed { onInputClosed(chat) } else { chat.closeWhenDone() }
    }

    func channelClosed(chat: ChatChannel) {
        log.append("closed")
    }
}

/// Counts the `read` calls that pass the chat handler on their way to the socket.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// An embedded channel running one chat connection.
struct ChatHarness {
    let channel: EmbeddedChannel
    let chat: ChatChannel
    let proto: ScriptedProtocol
    let readCounter = ReadCounter()

    init(configuration: ChatConfiguration = ChatConfiguration(), extraHandlers: [any ChannelHandler] = [], setUp: (ScriptedProtocol) -> Void = { _ in }) throws {
        channel = EmbeddedChannel()
        proto = ScriptedProtocol()
        setUp(proto)
        chat = ChatChannel(protocol: proto, configuration: configuration, channel: channel)
        try channel.pipeline.syncOperations.addHandler(readCounter)
        for handler in extraHandlers { try channel.pipeline.syncOperations.addHandler(handler) }
        try channel.pipeline.syncOperations.addHandler(ChatChannelHandler(chat: chat))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ string: String) throws {
        try channel.writeInbound(ByteBuffer(string: string))
    }

    /// Everything written so far, as one string.
    func written() throws -> String {
        var out = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let bytes) = data { out += String(buffer: bytes) }
        }
        return out
    }
}
