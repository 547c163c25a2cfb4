public import NIOCore

/// One connection on the chat layer: asynchat's `async_chat`, minus the socket.
///
/// A ``ChatProtocol`` receives this object in each callback and uses it as asynchat code uses `self`: set
/// ``terminator``, ``push(_:)-(ByteBuffer)`` bytes, ``push(producer:)``, ``closeWhenDone()``,
/// ``discardBuffers()``. It lives on one event loop and must only be touched there (it is not `Sendable`);
/// from other threads, hop with `chat.eventLoop.execute` and a `NIOLoopBound`.
///
/// Output is a FIFO of bytes, producers and a close marker, written in order. Producers are pulled only
/// while the socket is writable, and the socket is not read while queued output is above
/// ``ChatConfiguration/outputHighWaterMark`` (until it falls to the low-water mark): backpressure both ways.
public final class ChatChannel {
    /// The buffer sizes and bounds of this connection.
    public let configuration: ChatConfiguration
    /// The connection's event loop; every method must be called on it.
    public let eventLoop: any EventLoop
    /// The connection's allocator.
    public let allocator: ByteBufferAllocator
    /// The client's address, when known: the socket's peer, or, behind a PROXY protocol listener, the client
    /// the trusted proxy's header named (``ProxyProtocolReader``).
    public internal(set) var remoteAddress: SocketAddress?
    /// Whether the connection's PROXY header named no client (v1 `UNKNOWN`, v2 `LOCAL`, a v2 family other
    /// than IPv4 and IPv6). ``remoteAddress`` is then the proxy itself, yet the bytes on the connection are
    /// not the proxy's own words: forwarding fields on it (`X-Forwarded-For`) are a client's and must not be
    /// believed as the trusted proxy's.
    public internal(set) var proxyHeaderNamedNoClient = false
    /// The socket's peer, when known: the client, or the proxy that relays it.
    public let peerAddress: SocketAddress?
    /// The local address the connection was accepted on, when known.
    public let localAddress: SocketAddress?

    /// The terminator that frames the next input (see ``Terminator``). Setting it starts a new frame; input
    /// already buffered is framed by the new terminator, at once inside a callback, otherwise on the next
    /// turn of the event loop.
    public var terminator: Terminator {
        get { framer.terminator }
        set {
            framer.terminator = newValue
            state.terminatorSet()
            if !state.isDispatching { scheduleInputProcessing() }
        }
    }

    /// Whether the connection still serves its protocol: false once it closed, and once everything before a
    /// ``closeWhenDone()`` went out (the socket may then linger a moment, see ``ChatConfiguration/lingerTimeout``).
    public var isActive: Bool { state.isActive }

    /// Bytes pushed but not yet handed to the socket (producers not yet pulled do not count).
    public var queuedOutputBytes: Int { queuedBytes }

    /// Whether output is still on its way: bytes or producers queued, a producer being pulled, or bytes
    /// written that the socket has not taken yet. Bytes the socket has taken count as sent.
    public var isSending: Bool {
        guard let context else { return false }
        if case .none = current, queue.isEmpty { return Self.bufferedBytes(context) > 0 }
        return true
    }

    /// The NIO channel under the connection, while it is open (for a protocol built into this package that
    /// needs a transport's handler: TLS facts).
    package var channel: (any Channel)? { nioChannel }

    /// Bytes received but not yet framed.
    public var bufferedInputBytes: Int { framer.bufferedByteCount }

    // MARK: - State

    private enum OutboundItem {
        case bytes(ByteBuffer)
        case producer(any ChatProducer)
        case cork(Bool)
        case close
    }

    /// The producer at the head of the output, if any.
    private enum Pulling {
        case none
        /// Pulled while the socket is writable.
        case ready(any ChatProducer)
        /// Out of the slot while its ``ChatProducer/more(_:)`` runs: pushes made meanwhile queue behind it.
        case running
        /// It answered ``ChatProducerResult/wait(_:)``: pulled again when that future completes.
        case waiting(any ChatProducer)
        /// It answered ``ChatProducerOutput/park``: pulled again when its context's waker is woken.
        case parked(any ChatProducer)
    }

    /// The protocol framing this connection now (``handOff(to:)`` replaces it).
    private var chatProtocol: any ChatProtocol
    private var framer: ChatFramer
    var context: ChannelHandlerContext? {
        didSet { nioChannel = context?.channel }
    }
    /// `context.channel`, kept: the context's getter walks to the pipeline for it, and writability is asked
    /// several times per request.
    private var nioChannel: (any Channel)?
    /// Whether the socket takes more output now (false once the handler is gone).
    private var isWritable: Bool { nioChannel?.isWritable ?? false }
    /// Life, input gate, end of input, held reads and the loops' re-entrancy: the decisions, as values.
    private var state = ChatChannelState()

    /// Room for one item to start with: most responses go out directly or as one producer, and every idle
    /// connection pays for what is reserved here (it grows by doubling when pipelining queues more).
    private var queue = CircularBuffer<OutboundItem>(initialCapacity: 1)
    private var current = Pulling.none
    /// The producers' context, made once: its waker brings a parked producer back.
    private lazy var producerContext = ChatProducerContext(
        allocator: allocator, eventLoop: eventLoop, preferredChunkSize: configuration.outBufferSize,
        waker: makeWaker()
    )
    /// A wake came while the head producer was not parked: its next `.park` is pulled again at once.
    private var wokenEarly = false
    private var queuedBytes = 0
    /// Writes made since the last flush.
    private var unflushed = false
    /// Bytes written to the channel so far; what it still buffers has not been taken by the socket.
    private var handedBytes = 0
    /// The send timeout's decision, and its scheduled check while output waits on the peer.
    private var sendWatch = SendWatch()
    private var sendCheck: Scheduled<Void>?
    /// The end of a lingering close.
    private var lingerEnd: Scheduled<Void>?

    /// Whether the transport passes file regions to the socket (false under TLS: they are read into bytes).
    private let carriesFileRegions: Bool

    private var marks: (low: Int, high: Int) { (configuration.outputLowWaterMark, configuration.outputHighWaterMark) }

    init(
        protocol chatProtocol: any ChatProtocol,
        configuration: ChatConfiguration,
        channel: any Channel,
        carriesFileRegions: Bool = true
    ) {
        configuration.validate()
        self.carriesFileRegions = carriesFileRegions
        self.chatProtocol = chatProtocol
        self.configuration = configuration
        self.framer = ChatFramer(terminator: .none, maxDelimitedLength: configuration.maxDelimitedLength)
        self.eventLoop = channel.eventLoop
        self.allocator = channel.allocator
        self.remoteAddress = channel.remoteAddress
        self.peerAddress = channel.remoteAddress
        self.localAddress = channel.localAddress
    }

    // MARK: - Output (asynchat's push, push_with_producer, close_when_done, discard_buffers)

    /// Queues bytes behind everything pushed before (asynchat's `push`). Ignored once the connection is
    /// closed or ``closeWhenDone()`` was called.
    ///
    /// - Parameter bytes: the bytes to send; empty buffers are ignored.
    public func push(_ bytes: ByteBuffer) {
        guard state.acceptsOutput, bytes.readableBytes > 0 else { return }
        if queue.isEmpty, case .none = current, isWritable, let context {
            context.write(NIOAny(IOData.byteBuffer(bytes)), promise: nil)
            unflushed = true
            if !state.isDispatching && !state.isDraining { flushIfNeeded() }
        } else {
            queuedBytes += bytes.readableBytes
            queue.append(.bytes(bytes))
        }
    }

    /// Queues the UTF-8 bytes of `string` (see ``push(_:)-(ByteBuffer)``).
    ///
    /// - Parameter string: the text to send.
    public func push(_ string: String) {
        push(allocator.buffer(string: string))
    }

    /// Queues a producer behind everything pushed before (asynchat's `push_with_producer`). Its
    /// ``ChatProducer/more(_:)`` is pulled when it reaches the head of the queue, only while the socket is
    /// writable. Ignored (and cancelled) once the connection is closed or ``closeWhenDone()`` was called.
    ///
    /// - Parameter producer: the producer to pull.
    public func push(producer: some ChatProducer) {
        guard state.acceptsOutput else {
            var dropped = producer
            dropped.cancel()
            return
        }
        queue.append(.producer(producer))
        drain()
    }

    /// Holds back partial TCP segments from here on (Linux `TCP_CORK`, nginx's `tcp_nopush`), so a response
    /// head and the file after it leave in full segments; in order with pushes. Pair it with ``uncork()``:
    /// the kernel sends a corked partial segment after 200 ms at the latest. Does nothing where TCP_CORK does
    /// not exist.
    public func cork() {
        guard state.acceptsOutput else { return }
        queue.append(.cork(true))
        drain()
    }

    /// Ends ``cork()`` once everything pushed before it has been handed to the socket, sending the last
    /// partial segment at once.
    public func uncork() {
        guard state.isActive else { return }
        queue.append(.cork(false))
        drain()
    }

    /// Closes the connection once everything queued before it has been written (asynchat's
    /// `close_when_done`). Later pushes are ignored. The close comes in stages, so a peer still sending cannot
    /// lose the last output to a reset: the sending side is shut down first, then the socket closes when the
    /// peer closes its side or after ``ChatConfiguration/lingerTimeout``.
    public func closeWhenDone() {
        guard state.closeRequested() else { return }
        queue.append(.close)
        drain()
    }

    /// Closes the connection now; queued output is dropped and producers are cancelled.
    public func close() {
        guard state.isOpen else { return }
        context?.close(promise: nil)
    }

    /// Drops buffered input and queued output (asynchat's `discard_buffers`); producers are cancelled.
    /// Bytes already handed to the socket are still sent. A pending ``closeWhenDone()`` is kept.
    public func discardBuffers() {
        framer.discardInput()
        cancelQueuedOutput()
        if state.lifecycle == .closing { queue.append(.close) }
        updateReadInterest()
    }

    // MARK: - Protocol hand-off

    /// Hands the connection to another protocol, with every byte already received and not yet framed: asynchat's
    /// channel that changes how it frames its input, and HTTP's `Upgrade` (RFC 9110 §7.8) on this layer.
    ///
    /// `next` gets ``ChatProtocol/channelOpened(_:)`` at once and sets its first terminator there (the
    /// terminator is reset to `.none` before); the bytes after the frame being handled are framed by it, then
    /// what the socket brings. Output already queued (a `101 Switching Protocols`, say) goes out first, in
    /// order. The old protocol gets no more callbacks, not even ``ChatProtocol/channelClosed(chat:)``: it
    /// lets go of what it holds before calling this. Input suspended or halted by the old protocol is
    /// resumed for the new one; an end of input not yet delivered is delivered to it. Ignored once the
    /// connection is closed or ``closeWhenDone()`` was called.
    ///
    /// ```swift
    /// func foundTerminator(chat: ChatChannel) {
    ///     if line == "STARTBINARY" {
    ///         chat.push("OK\n")
    ///         chat.handOff(to: BinaryFrames())  // its channelOpened sets .count(4)
    ///     }
    /// }
    /// ```
    ///
    /// - Parameter next: the protocol that frames the connection from here on.
    public func handOff(to next: any ChatProtocol) {
        guard state.acceptsOutput else { return }
        chatProtocol = next
        framer.terminator = .none
        state.handedOff()
        next.channelOpened(self)
        if state.isDispatching {
            return  // the input loop goes on with `next`
        }
        flushIfNeeded()
        scheduleInputProcessing()
    }

    // MARK: - Input control

    /// Stops handing input to the protocol, and stops reading the socket, until ``resumeInput()``.
    /// Bytes already received stay buffered. Use it while an answer is being computed.
    public func suspendInput() {
        state.suspend()
    }

    /// Resumes after ``suspendInput()``: buffered input is framed at once, then the socket is read again.
    public func resumeInput() {
        guard state.resume() else { return }
        if !state.isDispatching { processInput() }
    }

    // MARK: - Events from the NIO adapter

    func channelActive() {
        guard state.activated() else { return }
        chatProtocol.channelOpened(self)
        flushIfNeeded()
    }

    func channelRead(_ bytes: ByteBuffer) {
        guard state.lifecycle != .lingering else { return }  // dropped: the answer is out, the peer is told
        framer.append(bytes)
        processInput()
    }

    func inputClosed() {
        if state.lifecycle == .lingering {
            context?.close(promise: nil)  // the peer closed its side: nothing can reset the answer any more
            return
        }
        let first = state.end == .open
        state.inputEnded()
        if first { chatProtocol.peerFinishedSending(chat: self) }
        processInput()
    }

    func shutdownRequested() {
        guard state.isActive else { return }
        chatProtocol.shutdownRequested(chat: self)
        flushIfNeeded()
    }

    func writabilityChanged() {
        if context != nil, !isWritable { watchOutput() }
        drain()
        updateReadInterest()
    }

    func channelInactive() {
        guard state.inactive() else { return }
        sendWatch.cancel()
        sendCheck?.cancel()
        sendCheck = nil
        lingerEnd?.cancel()
        lingerEnd = nil
        cancelQueuedOutput()
        chatProtocol.channelClosed(chat: self)
    }

    /// The NIO adapter asks whether to pass a `read` on to the socket.
    func shouldRead() -> Bool {
        guard context != nil else { return false }
        return state.readRequested(writable: isWritable, queuedBytes: queuedBytes, marks: marks)
    }

    // MARK: - Input loop (asynchat's handle_read, with the socket taken out)

    private func processInput() {
        guard state.beginInput() else { return }
        while state.mayFrame {
            do {
                guard let event = try framer.next() else { break }
                switch event {
                case .data(let bytes): chatProtocol.collectIncomingData(bytes, chat: self)
                case .terminator: chatProtocol.foundTerminator(chat: self)
                }
            } catch {
                state.halt()  // until the protocol sets a terminator
                chatProtocol.inputFailed(error, chat: self)
            }
        }
        if state.endToDeliver() {
            chatProtocol.inputClosed(chat: self)
        }
        state.endInput()
        drain()
        updateReadInterest()
    }

    private func scheduleInputProcessing() {
        guard state.scheduleInput() else { return }
        eventLoop.assumeIsolated().execute {
            if self.state.scheduledInputFired() { self.processInput() }
        }
    }

    private func updateReadInterest() {
        guard let context,
            state.heldReadToIssue(writable: isWritable, queuedBytes: queuedBytes, marks: marks)
        else { return }
        context.read()
    }

    // MARK: - Output loop (asynchat's initiate_send, pulled by writability)

    /// Writes queued items while the socket is writable. NIO reports writability changes synchronously from
    /// inside `write` and `flush`, so a call made while draining is remembered and served by another pass
    /// instead of being dropped.
    private func drain() {
        guard context != nil, state.isActive, state.beginDrain() else { return }
        repeat {
            pump()
            flushIfNeeded()
        } while state.drainPassDone()
    }

    private func pump() {
        guard let context else { return }
        pump: while state.isActive {
            if case .ready = current {
                guard isWritable else { break pump }
                // Out of the slot while it runs (moved, not copied): pushes made meanwhile queue behind it.
                var slot = Pulling.running
                swap(&slot, &current)
                guard case .ready(var producer) = consume slot else { break pump }
                let result = producer.more(producerContext)
                guard case .running = current else {
                    producer.cancel()  // the connection closed while it ran
                    break pump
                }
                // The producer goes back to the slot before anything is written: a write can close the
                // connection, and the close cancels what is in the slot.
                switch result {
                case .bytes(let bytes):
                    current = .ready(producer)
                    if bytes.readableBytes > 0 {
                        handedBytes += bytes.readableBytes
                        context.write(NIOAny(IOData.byteBuffer(bytes)), promise: nil)
                        unflushed = true
                    }
                case .fileRegion(let region):
                    current = .ready(producer)
                    if region.readableBytes > 0 {
                        handedBytes += region.readableBytes
                        context.write(NIOAny(IOData.fileRegion(region)), promise: nil)
                        unflushed = true
                    }
                case .notifying(let data, let promise):
                    current = .ready(producer)
                    handedBytes += data.readableBytes
                    context.write(NIOAny(data), promise: promise)
                    unflushed = true
                case .wait(let future):
                    current = .waiting(producer)
                    future.hop(to: eventLoop).assumeIsolated().whenComplete { _ in
                        if case .waiting(let producer) = self.current { self.current = .ready(producer) }
                        self.drain()
                        self.updateReadInterest()
                    }
                    if case .waiting = current { break pump }  // else it was already complete: go on
                case .park:
                    if wokenEarly {
                        wokenEarly = false  // woken while it ran: pull it again
                        current = .ready(producer)
                    } else {
                        current = .parked(producer)
                        break pump
                    }
                case .end:
                    current = .none
                case .abort:
                    current = .none
                    _ = state.closeRequested()
                    finishClose(context)
                    break pump
                }
                continue pump
            }
            switch current {
            case .waiting, .parked: break pump  // pulled again when its future completes or its waker is woken
            case .none, .ready, .running: break
            }
            guard let item = queue.first else { break pump }
            switch item {
            case .bytes(let bytes):
                guard isWritable else { break pump }
                queue.removeFirst()
                queuedBytes -= bytes.readableBytes
                handedBytes += bytes.readableBytes
                context.write(NIOAny(IOData.byteBuffer(bytes)), promise: nil)
                unflushed = true
            case .producer(let producer):
                queue.removeFirst()
                current = .ready(carriesFileRegions ? producer : Self.readingRegions(producer))
            case .cork(let on):
                queue.removeFirst()
                if !on { flushIfNeeded() }  // the corked bytes go to the kernel before the cork comes off
                Self.setCork(on, context.channel)
            case .close:
                queue.removeFirst()
                finishClose(context)
                break pump
            }
        }
    }

    /// `producer` with its file regions read into bytes (for a transport that cannot carry them).
    private static func readingRegions<P: ChatProducer>(_ producer: P) -> any ChatProducer {
        FileRegionReader(producer)
    }

    private static func setCork(_ on: Bool, _ channel: any Channel) {
        #if os(Linux)
        let option = ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 3))  // TCP_CORK
        try? channel.syncOptions?.setOption(option, value: on ? 1 : 0)
        #endif
    }

    private func flushIfNeeded() {
        guard unflushed, let context else { return }
        unflushed = false
        context.flush()
    }

    /// Closes once every earlier write is on the wire: an empty write's promise completes after them.
    private func finishClose(_ context: ChannelHandlerContext) {
        cancelQueuedOutput()
        unflushed = false
        let written = eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(IOData.byteBuffer(ByteBuffer())), promise: written)
        written.futureResult.assumeIsolated().whenComplete { result in
            self.closeInStages(afterWrite: result)
        }
        watchOutput()  // a peer that reads nothing more must not hold the close back forever
    }

    /// Once the last output is written: shuts the sending side down and lingers, reading and dropping what
    /// the peer still sends until it closes its side or the linger time runs out, then closes (RFC 9112 §9.6:
    /// a close while the peer sends resets the connection, and a reset can destroy the answer before the peer
    /// reads it). Closes at once when the peer has closed its side already, the write failed, lingering is off,
    /// or the transport cannot half-close.
    private func closeInStages(afterWrite result: Result<Void, any Error>) {
        guard let context, state.lifecycle == .closing else { return }
        guard case .success = result, state.end == .open, let linger = configuration.lingerTimeout else {
            context.close(promise: nil)
            return
        }
        let halfClosed = eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: halfClosed)
        halfClosed.futureResult.assumeIsolated().whenComplete { result in
            guard let context = self.context else { return }
            guard case .success = result, self.state.lingerStarted() else {
                context.close(promise: nil)
                return
            }
            self.lingerEnd = self.eventLoop.assumeIsolated().scheduleTask(in: linger) {
                self.lingerEnd = nil
                self.context?.close(promise: nil)
            }
            context.read()  // whatever reads were held: the peer's bytes are drained from here on
        }
    }

    /// The waker of this channel's producers: on the loop it pulls at once (``producerWoken()``), from other
    /// threads through a task of the loop. It holds the channel weakly: a wake after the close does nothing.
    private func makeWaker() -> ChatProducerWaker {
        let loop = eventLoop
        let target = NIOLoopBound(WeakChatChannel(self), eventLoop: loop)
        return ChatProducerWaker {
            if loop.inEventLoop {
                target.value.channel?.producerWoken()
            } else {
                loop.execute { target.value.channel?.producerWoken() }
            }
        }
    }

    /// A producer's waker was woken: a parked producer is pulled again; otherwise the head producer's next
    /// `.park` is pulled again at once (the wake came while it ran, or before it parked).
    private func producerWoken() {
        guard case .parked(let producer) = current else {
            if state.isActive { wokenEarly = true }
            return
        }
        current = .ready(producer)
        drain()
        updateReadInterest()
    }

    // MARK: - Send timeout (nginx's send_timeout)

    /// Bytes the channel still buffers: written to it, not yet taken by the socket.
    private static func bufferedBytes(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
    }

    /// ``isSending``, and when it is, makes sure the send timeout watches the bytes the socket has not taken.
    /// The channel starts the watch itself when the socket stops taking bytes and when a close waits for
    /// output; a protocol's own timer (HTTP's idle timeout) calls this for output that waits below the water
    /// mark.
    package func checkSending() -> Bool {
        guard isSending else { return false }
        watchOutput()
        return true
    }

    /// Starts checking, every ``ChatConfiguration/sendTimeout``, that the peer takes some of the output
    /// waiting for it, when some does: bytes written that the socket has not taken yet.
    private func watchOutput() {
        guard let timeout = configuration.sendTimeout, state.isActive, let context,
            sendWatch.arm(handed: handedBytes, buffered: Self.bufferedBytes(context))
        else { return }
        sendCheck = eventLoop.assumeIsolated().scheduleTask(in: timeout) { self.checkOutput() }
    }

    private func checkOutput() {
        sendCheck = nil
        guard state.isActive, let context else { return }
        switch sendWatch.fired(handed: handedBytes, buffered: Self.bufferedBytes(context)) {
        case .stop: return  // the socket took everything: nothing waits on the peer
        case .close: close()  // not one byte went out in a whole timeout
        case .rearm:
            guard let timeout = configuration.sendTimeout else { return }
            sendCheck = eventLoop.assumeIsolated().scheduleTask(in: timeout) { self.checkOutput() }
        }
    }

    private func cancelQueuedOutput() {
        switch current {
        case .ready(var producer), .waiting(var producer), .parked(var producer): producer.cancel()
        case .none, .running: break
        }
        current = .none
        wokenEarly = false
        while let item = queue.popFirst() {
            if case .producer(var producer) = item { producer.cancel() }
        }
        queuedBytes = 0
    }
}

/// A weak reference to a channel, for its producers' waker.
private final class WeakChatChannel {
    weak var channel: ChatChannel?
    init(_ channel: ChatChannel) { self.channel = channel }
}
