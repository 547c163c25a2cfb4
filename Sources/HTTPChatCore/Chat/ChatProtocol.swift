public import NIOCore

/// What a protocol on the chat layer implements: asynchat's `collect_incoming_data` and `found_terminator`,
/// plus the connection's life events that asynchat left to `asyncore`.
///
/// One instance serves one connection. Every method is called on that connection's event loop, one at a
/// time; the ``ChatChannel`` passed in is how the protocol sets the terminator and pushes output.
///
/// ```swift
/// final class Echo: ChatProtocol {
///     var line = ByteBuffer()
///     func channelOpened(_ chat: ChatChannel) { chat.terminator = .delimiter("\n") }
///     func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) { var d = data; line.writeBuffer(&d) }
///     func foundTerminator(chat: ChatChannel) { chat.push(line); chat.push("\n"); line.clear() }
/// }
/// ```
public protocol ChatProtocol: AnyObject {
    /// The connection is open. Set the first terminator here. Default: nothing (the terminator is `.none`).
    func channelOpened(_ chat: ChatChannel)

    /// Bytes of the current frame. Never called with an empty buffer. A frame may arrive in several pieces.
    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel)

    /// The current frame ended. The protocol may set a new terminator; bytes already received after this
    /// frame are framed by it.
    func foundTerminator(chat: ChatChannel)

    /// A delimited frame outgrew ``ChatConfiguration/maxDelimitedLength``. Framing stops until the protocol
    /// sets a terminator. Default: close the connection after pending output.
    func inputFailed(_ error: ChatFramingError, chat: ChatChannel)

    /// The peer finished sending (end of stream or half-close), after every received byte was framed.
    /// Default: ``ChatChannel/closeWhenDone()``, so answers already queued are still sent.
    func inputClosed(chat: ChatChannel)

    /// The peer finished sending, told at once, even while input is suspended (``inputClosed(chat:)`` still
    /// follows once the bytes before the end are framed). A protocol that is working on an answer learns here
    /// that its client has stopped sending: an HTTP client that closed the connection looks the same as one
    /// that only half-closed it until something is written. Default: nothing.
    func peerFinishedSending(chat: ChatChannel)

    /// The owner of the listener asked the connection to wind down (graceful shutdown).
    /// Default: ``ChatChannel/closeWhenDone()``.
    func shutdownRequested(chat: ChatChannel)

    /// The connection is closed; nothing more can be pushed. Default: nothing.
    func channelClosed(chat: ChatChannel)
}

extension ChatProtocol {
    /// Does nothing.
    public func channelOpened(_ chat: ChatChannel) {}
    /// Closes after pending output.
    public func inputFailed(_ error: ChatFramingError, chat: ChatChannel) { chat.closeWhenDone() }
    /// Closes after pending output.
    public func inputClosed(chat: ChatChannel) { chat.closeWhenDone() }
    /// Does nothing.
    public func peerFinishedSending(chat: ChatChannel) {}
    /// Closes after pending output.
    public func shutdownRequested(chat: ChatChannel) { chat.closeWhenDone() }
    /// Does nothing.
    public func channelClosed(chat: ChatChannel) {}
}
