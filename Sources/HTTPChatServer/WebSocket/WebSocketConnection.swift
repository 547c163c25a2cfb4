import HTTPChatCore
import NIOConcurrencyHelpers
public import NIOCore

/// How a WebSocket route behaves. Every value has a documented default.
public struct WebSocketOptions: Sendable {
    /// Subprotocols this route speaks, preferred first; the first one the client offers is chosen
    /// (`Sec-WebSocket-Protocol`). Default none.
    public var subprotocols: [String] = []
    /// Whether permessage-deflate (RFC 7692) is agreed when the client offers it. Default on.
    public var compression = true
    /// Decides on the `Origin` field (nil when the client sent none): false refuses the handshake with 403.
    /// Browsers send it; checking it is how a server keeps other sites' pages from opening sockets with its
    /// users' cookies. Default: any origin.
    public var acceptsOrigin: @Sendable (String?) -> Bool = { _ in true }
    /// The largest frame payload (1009 beyond). Default 16 MiB.
    public var maxFrameBytes = 16 << 20
    /// The largest message, after inflation (1009 beyond). Default 16 MiB.
    public var maxMessageBytes = 16 << 20
    /// How long the connection may be silent before the server pings; nil never pings. Default 30 s.
    public var pingInterval: Duration? = .seconds(30)
    /// How long a ping may go unanswered (by any frame) before the connection is closed. Default 10 s.
    public var pingTimeout: Duration = .seconds(10)
    /// How long the server waits for the client's close frame after sending its own. Default 5 s.
    public var closeTimeout: Duration = .seconds(5)
    /// Messages queued for a handler that is not reading before the socket stops being read. Default 16.
    public var inboundBuffer = 16
    /// Bytes of outgoing frames queued before `send` waits for the client. Default 256 KiB.
    public var outboundHighWaterMark = 256 * 1024

    /// The defaults.
    public init() {}
}

/// The messages a client sends, in order: an `AsyncSequence` that ends when the connection closes (after a
/// close frame, an error, or the client vanishing). Reading slowly makes the server stop reading the socket
/// once ``WebSocketOptions/inboundBuffer`` messages wait. Iterate it once, from one task: like a request
/// body, it is a single stream, and a second iterator is a programming error.
public struct WebSocketInbound: AsyncSequence, Sendable {
    /// A message.
    public typealias Element = WebSocketMessage

    let reader: WebSocketInboundReader
    /// The request that opened the WebSocket (its path parameters, cookies, fields).
    public let request: Request

    /// An iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }

    /// An iterator over the messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: WebSocketInboundReader
        /// The next message, or nil once the connection closed (or the reading task was cancelled).
        public mutating func next() async -> WebSocketMessage? { await reader.queue.next() }

        /// The next message, or nil once the connection closed (or the reading task was cancelled), waited for
        /// on the caller's isolation (what `for await` calls): no executor switch per message.
        ///
        /// - Parameter actor: the caller's actor, if any.
        public mutating func next(isolation actor: isolated (any Actor)?) async -> WebSocketMessage? {
            await reader.queue.next()
        }
    }
}

/// Why a send failed.
public enum WebSocketSendError: Error, Equatable, Sendable {
    /// The connection closed, or the close handshake began: nothing more can be sent.
    case closed
}

/// Sends messages to the client. Each send returns once its frame is queued below
/// ``WebSocketOptions/outboundHighWaterMark``, so a client that reads slowly makes its sender wait. Sends are
/// taken in order, also from several tasks.
public final class WebSocketOutbound: Sendable {
    private let bridge: StreamBridge
    private let turns = AsyncTurns()
    private let deflater: NIOLockedValueBox<MessageDeflater?>
    /// Whether permessage-deflate was agreed (frames then go through the deflater, in turns).
    private let compresses: Bool
    private let connection: NIOLoopBound<WeakWebSocket>
    private let state: NIOLockedValueBox<(closing: Bool, code: WebSocketCloseCode?, reason: String)>

    init(bridge: StreamBridge, deflater: MessageDeflater?, connection: NIOLoopBound<WeakWebSocket>) {
        self.bridge = bridge
        self.deflater = NIOLockedValueBox(deflater)
        self.compresses = deflater != nil
        self.connection = connection
        self.state = NIOLockedValueBox((false, nil, ""))
    }

    /// Sends a text message.
    ///
    /// - Parameter text: the text.
    /// - Throws: ``WebSocketSendError/closed`` once the connection closed or the close handshake began.
    public nonisolated(nonsending) func send(text: String) async throws {
        try await send(.text, ByteBuffer(string: text))
    }

    /// Sends a binary message.
    ///
    /// - Parameter binary: the bytes.
    /// - Throws: ``WebSocketSendError/closed`` once the connection closed or the close handshake began.
    public nonisolated(nonsending) func send(binary: ByteBuffer) async throws {
        try await send(.binary, binary)
    }

    /// Starts the closing handshake: the close frame goes out after every message sent before it; the
    /// connection closes when the client answers, or after ``WebSocketOptions/closeTimeout``. Later sends
    /// throw. Closing twice does nothing more.
    ///
    /// - Parameters:
    ///   - code: the close code (a sendable one: 1000-1003, 1007-1014, 3000-4999).
    ///   - reason: a short reason, cut to fit the 123 bytes a close frame allows.
    public nonisolated(nonsending) func close(code: WebSocketCloseCode = .normalClosure, reason: String = "") async {
        await turns.run {
            let connection = self.connection
            connection.eventLoop.execute { connection.value.socket?.closeRequested(code: code, reason: reason) }
        }
    }

    /// The close code the connection ended with: the client's, or the one the server sent; nil while open.
    public var closeCode: WebSocketCloseCode? { state.withLockedValue { $0.code } }

    /// The close reason the connection ended with.
    public var closeReason: String { state.withLockedValue { $0.reason } }

    func closed(code: WebSocketCloseCode?, reason: String) {
        state.withLockedValue {
            if $0.code == nil { $0.code = code }
            if $0.reason.isEmpty { $0.reason = reason }
            $0.closing = true
        }
    }

    /// An uncompressed frame that fits below the high-water mark is queued at once, in one lock of the bridge
    /// (the echo path: no turn, no suspension). Anything else takes a turn: a compressed frame must reach the
    /// queue in the order it was compressed, and only one sender at a time may wait for room.
    private nonisolated(nonsending) func send(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) async throws {
        if !compresses {
            switch bridge.writeIfRoom(WebSocketFrame(opcode: opcode, payload: payload).serverBytes) {
            case .written: return
            case .closed: throw WebSocketSendError.closed
            case .full: break
            }
        }
        try await turns.run {
            guard !self.state.withLockedValue({ $0.closing }) else { throw WebSocketSendError.closed }
            switch self.compressAndQueue(opcode, payload) {
            case .belowMark: return
            case .closed: throw WebSocketSendError.closed
            case .aboveMark:
                do {
                    try await self.bridge.waitForRoom()
                } catch {
                    throw WebSocketSendError.closed
                }
            }
        }
    }

    /// Builds the frame (compressed when permessage-deflate was agreed) and queues it, both under the deflater's
    /// lock, so frames reach the queue in the order they were compressed whichever sender made them.
    private func compressAndQueue(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> StreamBridge.Appended {
        deflater.withLockedValue { deflater in
            guard let deflater, payload.readableBytes > 0 else {
                return bridge.append(WebSocketFrame(opcode: opcode, payload: payload).serverBytes)
            }
            return bridge.append(WebSocketFrame(rsv1: true, opcode: opcode, payload: deflater.compress(payload)).serverBytes)
        }
    }

    // MARK: Sending without waiting

    /// Queues a text message without waiting, for a sender that must not be held up by one client (a fan-out to
    /// many: see ``WebSocketGroup``).
    ///
    /// - Parameter text: the text.
    /// - Returns: true when the message was queued; false when the client is behind (the message would take the
    ///   queue past ``WebSocketOptions/outboundHighWaterMark``, or another send already waits for room) or the
    ///   connection is closing. Nothing is queued when it returns false.
    public func trySend(text: String) -> Bool {
        trySend(.text, ByteBuffer(string: text), frame: nil)
    }

    /// Queues a binary message without waiting; see ``trySend(text:)``.
    ///
    /// - Parameter binary: the bytes.
    /// - Returns: true when the message was queued; false when the client is behind or the connection is closing.
    public func trySend(binary: ByteBuffer) -> Bool {
        trySend(.binary, binary, frame: nil)
    }

    /// Queues one message without waiting. `frame`, when given, is the uncompressed frame's bytes made once for
    /// many connections; a connection that compresses makes its own.
    func trySend(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, frame: ByteBuffer?) -> Bool {
        guard !state.withLockedValue({ $0.closing }) else { return false }
        if !compresses {
            return bridge.writeIfRoom(frame ?? WebSocketFrame(opcode: opcode, payload: payload).serverBytes) == .written
        }
        // A compressed frame is rarely larger than its payload plus a header; the check is made before
        // compressing because a frame once compressed must be sent (the deflater's window has moved past it).
        guard bridge.hasRoom(for: payload.readableBytes + 14) else { return false }
        return compressAndQueue(opcode, payload) != .closed
    }

    /// Starts the closing handshake at once, without waiting for sends in progress (they fail): for a client that
    /// fell behind and is dropped.
    func closeNow(code: WebSocketCloseCode, reason: String) {
        state.withLockedValue { $0.closing = true }
        let connection = connection
        connection.eventLoop.execute { connection.value.socket?.closeRequested(code: code, reason: reason) }
    }
}

/// A weak reference to the connection, for closures that outlive it.
final class WeakWebSocket {
    weak var socket: WebSocketConnection?
    init(_ socket: WebSocketConnection) { self.socket = socket }
}

/// The WebSocket protocol on the chat layer: what an upgraded connection is handed to. Frames are read with
/// count terminators (``WebSocketFrameDecoder``), assembled into messages, and given to the handler's
/// ``WebSocketInbound``; the handler's ``WebSocketOutbound`` writes through a bounded queue the channel pulls
/// while the socket is writable. Control frames are the protocol's own: pings are answered, the closing
/// handshake is run with a timeout, a silent peer is pinged and dropped.
final class WebSocketConnection: ChatProtocol {
    typealias Handler = @Sendable (WebSocketInbound, WebSocketOutbound) async throws -> Void

    private let options: WebSocketOptions
    private let request: Request
    private let handshake: WebSocketHandshake
    private let handler: Handler
    private var decoder: WebSocketFrameDecoder
    private var assembler: WebSocketMessageAssembler
    /// The outgoing frames, first touched when the connection opens: its writer, the handler, runs on the
    /// executor of the connection's loop.
    private lazy var bridge = StreamBridge(
        highWaterMark: highWaterMark, lowWaterMark: highWaterMark / 4, executor: executor
    )
    /// Where the handler runs: the connection's loop, made when it opens.
    private var executor: EventLoopTaskExecutor?
    private let highWaterMark: Int
    /// The messages for the handler, until the input ends.
    private var inbound: WebSocketInboundQueue?
    private var outbound: WebSocketOutbound?
    private weak var chat: ChatChannel?
    /// The server sent its close frame (nothing more may follow it).
    private var closeSent = false
    /// Input is held back because the handler is not reading.
    private var backPressured = false
    private var idleTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    /// When the last frame arrived: the idle timer reads it when it fires, so a frame costs a store, not a
    /// timer cancelled and scheduled again.
    private var lastFrame = NIODeadline.uptimeNanoseconds(0)
    /// When the unanswered ping went out, if one did.
    private var pingSent: NIODeadline?

    init(request: Request, handshake: WebSocketHandshake, options: WebSocketOptions, handler: @escaping Handler) {
        self.options = options
        self.request = request
        self.handshake = handshake
        self.handler = handler
        self.decoder = WebSocketFrameDecoder(maxFrameBytes: options.maxFrameBytes, allowsRSV1: handshake.deflate != nil)
        let inflater = handshake.deflate.map {
            MessageInflater(windowBits: $0.clientMaxWindowBits, contextTakeover: !$0.clientNoContextTakeover)
        }
        self.assembler = WebSocketMessageAssembler(maxMessageBytes: options.maxMessageBytes, inflater: inflater)
        self.highWaterMark = options.outboundHighWaterMark
    }

    // MARK: ChatProtocol

    func channelOpened(_ chat: ChatChannel) {
        self.chat = chat
        let executor = EventLoopTaskExecutor(chat.eventLoop)
        self.executor = executor
        chat.terminator = decoder.terminator
        chat.push(producer: StreamBridgeProducer(bridge: bridge))
        let me = NIOLoopBound(WeakWebSocket(self), eventLoop: chat.eventLoop)
        let queue = WebSocketInboundQueue(lowWatermark: options.inboundBuffer / 2, highWatermark: options.inboundBuffer) {
            me.eventLoop.execute { me.value.socket?.inboundWanted() }
        }
        self.inbound = queue
        let deflater = handshake.deflate.map {
            MessageDeflater(windowBits: $0.serverMaxWindowBits, contextTakeover: !$0.serverNoContextTakeover)
        }
        let outbound = WebSocketOutbound(bridge: bridge, deflater: deflater, connection: me)
        self.outbound = outbound
        let inbound = WebSocketInbound(reader: WebSocketInboundReader(queue), request: request)
        let handler = handler
        Task(executorPreference: executor) {
            do {
                try await handler(inbound, outbound)
                await outbound.close(code: .normalClosure)
            } catch {
                await outbound.close(code: .internalError)
            }
        }
        armIdleTimer()
    }

    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        decoder.collect(data)
    }

    func foundTerminator(chat: ChatChannel) {
        do {
            let frame = try decoder.terminatorFound()
            chat.terminator = decoder.terminator
            guard let frame else { return }
            lastFrame = chat.eventLoop.now
            guard let event = try assembler.take(frame) else { return }
            handle(event, chat: chat)
        } catch {
            fail(error, chat: chat)
        }
    }

    func inputFailed(_ error: ChatFramingError, chat: ChatChannel) {
        fail(WebSocketProtocolError(.protocolError, "framing failed"), chat: chat)
    }

    func inputClosed(chat: ChatChannel) {
        // The client's TCP side ended without (or after) a close frame: nothing more can arrive.
        finishInbound(code: nil, reason: "")
        bridge.finish()
        chat.closeWhenDone()
    }

    func shutdownRequested(chat: ChatChannel) {
        closeRequested(code: .goingAway, reason: "server shutting down")
    }

    func channelClosed(chat: ChatChannel) {
        idleTimer?.cancel()
        closeTimer?.cancel()
        bridge.fail()
        finishInbound(code: nil, reason: "")
    }

    // MARK: Events

    private func handle(_ event: WebSocketMessageAssembler.Event, chat: ChatChannel) {
        switch event {
        case .message(let message):
            guard !closeSent, let inbound else { return }  // after our close, data is read and dropped
            if !inbound.yield(message), !backPressured {
                backPressured = true
                chat.suspendInput()
            }
        case .ping(let payload):
            guard !closeSent else { return }
            _ = bridge.enqueue(WebSocketFrame(opcode: .pong, payload: payload).serverBytes, first: true)
        case .pong:
            break  // any frame counts as an answer to our ping (lastFrame moved past pingSent)
        case .close(let code, let reason):
            finishInbound(code: code, reason: reason)
            if !closeSent {
                // Echo the code (RFC 6455 §5.5.1); a close without one is answered without one.
                sendClose(code: code, reason: "")
            }
            closeTimer?.cancel()
            bridge.finish()
            chat.closeWhenDone()  // the server closes the TCP connection first (§7.1.1)
        }
    }

    /// The handler asked to close, or the server is shutting down.
    func closeRequested(code: WebSocketCloseCode, reason: String) {
        guard !closeSent, let chat else { return }
        sendClose(code: code, reason: reason)
        bridge.finish()
        let me = NIOLoopBound(WeakWebSocket(self), eventLoop: chat.eventLoop)
        closeTimer = chat.eventLoop.scheduleTask(in: TimeAmount(options.closeTimeout)) { me.value.socket?.timedOut() }
    }

    func inboundWanted() {
        guard backPressured, let chat else { return }
        backPressured = false
        chat.resumeInput()
    }

    private func fail(_ error: WebSocketProtocolError, chat: ChatChannel) {
        if !closeSent { sendClose(code: error.code, reason: "") }
        finishInbound(code: error.code, reason: error.detail)
        bridge.finish()
        chat.closeWhenDone()
    }

    private func sendClose(code: WebSocketCloseCode?, reason: String) {
        closeSent = true
        outbound?.closed(code: code, reason: reason)
        var payload = ByteBuffer()
        if let code {
            payload.writeInteger(code.rawValue)
            payload.writeString(Self.fitting(reason))
        }
        // Queued and the bridge finished in one step: no frame from a sender on another thread can follow it.
        _ = bridge.enqueue(WebSocketFrame(opcode: .close, payload: payload).serverBytes, finishing: true)
    }

    private func finishInbound(code: WebSocketCloseCode?, reason: String) {
        outbound?.closed(code: code, reason: reason)
        inbound?.finish()
        inbound = nil
        if backPressured, let chat {
            backPressured = false
            chat.resumeInput()  // read on, to see the close frame or the end
        }
    }

    // MARK: Timers

    /// Starts the idle check: it runs when the connection may have been silent for a whole interval.
    private func armIdleTimer() {
        guard let chat else { return }
        lastFrame = chat.eventLoop.now
        guard let interval = options.pingInterval else { return }
        scheduleIdleCheck(at: lastFrame + TimeAmount(interval))
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        guard let chat else { return }
        let me = NIOLoopBound(WeakWebSocket(self), eventLoop: chat.eventLoop)
        idleTimer = chat.eventLoop.scheduleTask(deadline: deadline) { me.value.socket?.idle() }
    }

    private func idle() {
        guard let chat, !closeSent, let interval = options.pingInterval else { return }
        let now = chat.eventLoop.now
        if let sent = pingSent {
            guard lastFrame >= sent else {
                // No frame since the ping: the peer is gone or stuck.
                fail(WebSocketProtocolError(.internalError, "no answer to a ping"), chat: chat)
                return
            }
            pingSent = nil  // answered (any frame counts)
        }
        let quietUntil = lastFrame + TimeAmount(interval)
        guard now >= quietUntil else {
            scheduleIdleCheck(at: quietUntil)
            return
        }
        pingSent = now
        _ = bridge.enqueue(WebSocketFrame(opcode: .ping, payload: ByteBuffer(string: "httpchat")).serverBytes, first: true)
        scheduleIdleCheck(at: now + TimeAmount(options.pingTimeout))
    }

    /// The client did not answer the close frame within ``WebSocketOptions/closeTimeout``: the connection closes
    /// at once, whatever is still queued for a client that is not reading (RFC 6455 §7.1.1 lets the server end
    /// the TCP connection when it sees fit).
    private func timedOut() {
        guard let chat else { return }
        finishInbound(code: nil, reason: "")
        chat.close()
    }

    /// `reason` cut to the 123 bytes a close frame leaves for it, on a character boundary.
    static func fitting(_ reason: String) -> String {
        var out = ""
        for character in reason {
            guard out.utf8.count + String(character).utf8.count <= 123 else { break }
            out.append(character)
        }
        return out
    }
}
