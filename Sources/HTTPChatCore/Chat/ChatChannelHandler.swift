package import NIOCore

extension ChatChannel {
    /// Serves `chatProtocol` on `channel`: makes the channel's ``ChatChannel`` and adds the handler that feeds
    /// it, after the handlers already in the pipeline. ``ChatListener`` does this for every accepted client;
    /// HTTPChatTesting's in-process connection for its testing channel. Call on the channel's event loop.
    ///
    /// - Parameters:
    ///   - chatProtocol: the protocol the connection speaks.
    ///   - configuration: the chat layer's configuration.
    ///   - channel: the connection's channel.
    ///   - carriesFileRegions: whether the handlers before the chat layer pass file regions to the socket;
    ///     false: producers' file regions are read into bytes (``FileRegionReader``).
    /// - Throws: when the pipeline does not take the handler.
    package static func serve(
        _ chatProtocol: any ChatProtocol, configuration: ChatConfiguration, on channel: any Channel,
        carriesFileRegions: Bool = true
    ) throws {
        let chat = ChatChannel(
            protocol: chatProtocol, configuration: configuration, channel: channel,
            carriesFileRegions: carriesFileRegions
        )
        try channel.pipeline.syncOperations.addHandler(ChatChannelHandler(chat: chat))
    }
}

/// Sent down a connection's pipeline to ask its protocol to wind down (see ``ChatListener/shutdown(gracePeriod:)``).
struct ChatShutdownEvent: Sendable {}

/// The thin NIO adapter: forwards channel events to its ``ChatChannel`` and withholds socket reads the
/// chat channel does not want (backpressure).
final class ChatChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    let chat: ChatChannel

    init(chat: ChatChannel) {
        self.chat = chat
    }

    func handlerAdded(context: ChannelHandlerContext) {
        chat.context = context
        if context.channel.isActive { chat.channelActive() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        chat.channelInactive()
        chat.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        chat.channelActive()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        chat.channelRead(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let event as ChannelEvent where event == .inputClosed:
            chat.inputClosed()
        case is ChatShutdownEvent:
            chat.shutdownRequested()
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        chat.writabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        chat.channelInactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A socket error (reset, broken pipe) ends the connection; there is nobody left to answer.
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if chat.shouldRead() { context.read() }
    }
}
