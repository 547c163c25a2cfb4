public import NIOCore

/// The chat protocol a PROXY protocol listener runs first on every connection: it reads the PROXY header
/// (v1 or v2, ``ProxyHeaderParser``) before any byte of the protocol behind it, makes the client the header
/// names the connection's ``ChatChannel/remoteAddress``, and hands the connection, with every byte after the
/// header, to the protocol `next` makes (``ChatChannel/handOff(to:)``).
///
/// The trust decision is made here, once, before a byte is read: a connection whose peer is not in
/// `trusted` is closed at once, since only a trusted proxy's header may be believed and a listener that
/// expects the header must not serve connections without one (the spec: the receiver must not guess). A
/// header that is missing, malformed, too long, or not complete within `timeout` closes the connection too,
/// without an answer.
///
/// ```swift
/// let proxies = try [CIDR("10.0.0.0/8")]
/// let listener = try await ChatListener.bind(host: "0.0.0.0", port: 7000) {
///     ProxyProtocolReader(trusted: proxies) { EchoProtocol() }
/// }
/// ```
public final class ProxyProtocolReader: ChatProtocol {
    private let trusted: [CIDR]
    private let timeout: Duration
    private let next: () -> any ChatProtocol
    private var parser: ProxyHeaderParser
    private var timer: Scheduled<Void>?

    /// A reader for one connection.
    ///
    /// - Parameters:
    ///   - trusted: the proxies whose connections are served; every other peer is closed at once.
    ///   - timeout: how long the header may take to arrive (default 5 s).
    ///   - maxV2Length: the most bytes of v2 addresses and TLVs (``ProxyHeaderParser/maxV2Length``).
    ///   - next: makes the protocol the connection speaks after the header; called on the connection's loop.
    public init(
        trusted: [CIDR], timeout: Duration = .seconds(5), maxV2Length: Int = 4096,
        next: @escaping () -> any ChatProtocol
    ) {
        precondition(timeout > .zero, "the PROXY header timeout must be positive")
        self.trusted = trusted
        self.timeout = timeout
        self.next = next
        self.parser = ProxyHeaderParser(maxV2Length: maxV2Length)
    }

    /// Closes an untrusted peer's connection; else waits for the header.
    public func channelOpened(_ chat: ChatChannel) {
        guard CIDR.any(trusted, contain: chat.peerAddress) else {
            chat.close()
            return
        }
        chat.terminator = parser.terminator
        timer = chat.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak chat] in chat?.close() }
    }

    /// Header bytes.
    public func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        do {
            try parser.collect(data)
        } catch {
            fail(chat)
        }
    }

    /// One step of the header is in: the next, or the hand-off.
    public func foundTerminator(chat: ChatChannel) {
        do {
            guard let header = try parser.terminatorFound() else {
                chat.terminator = parser.terminator
                return
            }
            timer?.cancel()
            timer = nil
            if let source = header.source {
                chat.remoteAddress = source
            } else {
                chat.proxyHeaderNamedNoClient = true  // the peer stands, but it speaks for an unnamed client
            }
            chat.handOff(to: next())
        } catch {
            fail(chat)
        }
    }

    /// A header line longer than the chat layer's delimited-frame bound: closes.
    public func inputFailed(_ error: ChatFramingError, chat: ChatChannel) { fail(chat) }

    /// The peer stopped before the header ended: closes.
    public func inputClosed(chat: ChatChannel) { fail(chat) }

    /// A shutdown before the header ended: nothing is in progress, so closes.
    public func shutdownRequested(chat: ChatChannel) { fail(chat) }

    /// Stops the header timer.
    public func channelClosed(chat: ChatChannel) {
        timer?.cancel()
        timer = nil
    }

    private func fail(_ chat: ChatChannel) {
        timer?.cancel()
        timer = nil
        chat.close()
    }
}
