package import HTTPChatCore
import HTTPTypes
package import Logging
import NIOCore

/// What every connection of a server shares: one instance per server (a class, so each connection holds a
/// reference instead of its own copy of the limits and logger; 10,000 idle connections are ~2 MiB lighter).
package final class HTTPConnectionContext: Sendable {
    let responder: any HTTPResponder
    let immediate: (any ImmediateHTTPResponder)?
    /// The limits, one copy that the connections' decoders share by reference.
    let shared: SharedLimits
    var limits: HTTPLimits { shared.limits }
    let logger: Logger
    /// Whether connections run over TLS (their requests carry ``Request/tls``).
    let isTLS: Bool
    /// Where connections are counted, when the server reports metrics.
    let metrics: ConnectionMetrics?
    /// The proxies whose forwarding fields are read (``ServerConfiguration/trustedProxies``).
    let trustedProxies: [CIDR]
    /// Set on every response head written (``ServerConfiguration/responseHeaders``).
    let responseHeaders: ResponseHeaders?

    /// The context of `responder`'s connections.
    package init(
        responder: any HTTPResponder, limits: HTTPLimits, logger: Logger, isTLS: Bool = false,
        metrics: ConnectionMetrics? = nil, trustedProxies: [CIDR] = [], responseHeaders: ResponseHeaders? = nil
    ) {
        self.responder = responder
        self.trustedProxies = trustedProxies
        self.responseHeaders = responseHeaders
        self.isTLS = isTLS
        self.metrics = metrics
        self.immediate = responder as? any ImmediateHTTPResponder
        self.shared = SharedLimits(limits)
        self.logger = logger
    }

    /// A new connection's protocol (for a channel the listener did not make: HTTPChatTesting's).
    package func makeConnection() -> any ChatProtocol { HTTPConnection(context: self) }
}

/// HTTP/1.1 on the chat layer: the seeds' `http_request_handler`, grown up. One per connection.
///
/// The ``HTTPRequestDecoder`` decides the terminators; this class carries out what it finds: runs the
/// responder for each request, one at a time, writes responses in order (pipelined requests wait in the
/// framer's buffer, input suspended, until the response before them is queued), keeps or closes the
/// connection (RFC 9112 §9.3), sends `100 Continue` when a body is first read, and enforces the header-read,
/// body-read and idle timeouts.
final class HTTPConnection: ChatProtocol {
    /// The body stream of the exchange in progress: the consumer's end is in the ``Request``.
    private struct BodyStream {
        let source: RequestBody.Stream.Source
        let delegate: BodyStreamDelegate
    }

    private let context: HTTPConnectionContext
    private var limits: HTTPLimits { context.limits }
    private var decoder: HTTPRequestDecoder
    private var chat: ChatChannel?
    /// Made when the first handler task starts: a connection answered by an immediate responder never needs it.
    private var executorStorage: EventLoopTaskExecutor?
    private var executor: EventLoopTaskExecutor? {
        if executorStorage == nil, let chat { executorStorage = EventLoopTaskExecutor(chat.eventLoop) }
        return executorStorage
    }
    /// Every decision: which request, how far its body, keep-alive, which timeout (see ``HTTPConnectionState``).
    private var state = HTTPConnectionState(phase: .busy)
    /// The exchange in progress, its head (for logs and the response plan).
    private var head: HTTPRequestHead?
    private var stream: BodyStream?
    /// The body being collected while ``HTTPConnectionState/Request/collecting(_:)``.
    private var collected = ByteBuffer()
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    /// What the TLS handshake settled, read from the pipeline for the first request.
    private var tls: TLSConnectionInfo?
    /// The responder's task for the exchange in progress, cancelled when the client goes.
    private var handlerTask: Task<Void, Never>?
    /// The task writing a streamed response body, cancelled when the connection closes (its next write would
    /// fail anyway; work between two writes stops now).
    private var bodyTask: Task<Void, Never>?
    /// Whether the client has stopped sending. From then on every responder task of this connection is
    /// cancelled: a client that closed its connection looks like one that half-closed it until an answer is
    /// written, and work for a client that is gone must stop (Go's net/http cancels a request's context at
    /// the same moment; nginx answers 499). Responders that do not check for cancellation still answer.
    private var peerFinished = false

    init(context: HTTPConnectionContext) {
        self.context = context
        self.decoder = HTTPRequestDecoder(shared: context.shared)
    }

    // MARK: - Chat callbacks

    func channelOpened(_ chat: ChatChannel) {
        self.chat = chat
        context.metrics?.opened()
        chat.terminator = decoder.terminator
        state = HTTPConnectionState(openedAt: chat.eventLoop.now)
        armTimer()
    }

    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        state.bytesArrived(now: chat.eventLoop.now)
        armTimer()
        do {
            if let event = try decoder.collect(data) { handle(event, chat: chat) }
        } catch {
            fail(error, chat: chat)
        }
    }

    func foundTerminator(chat: ChatChannel) {
        do {
            let event = try decoder.terminatorFound()
            chat.terminator = decoder.terminator
            if let event { handle(event, chat: chat) }
        } catch {
            fail(error, chat: chat)
        }
    }

    func inputFailed(_ error: ChatFramingError, chat: ChatChannel) {
        fail(decoder.framingFailed(), chat: chat)
    }

    func inputClosed(chat: ChatChannel) {
        switch state.inputClosed() {
        case .closeWhenDone:
            collected = ByteBuffer()
            chat.closeWhenDone()
        case .failBody(let closes):
            finishBody(HTTPParseError.bad("the client closed before the body ended"))
            if closes { chat.closeWhenDone() }
        case .none:
            break  // the response to come closes the connection
        }
    }

    func peerFinishedSending(chat: ChatChannel) {
        peerFinished = true
        handlerTask?.cancel()
    }

    func shutdownRequested(chat: ChatChannel) {
        if state.shutdownRequested(now: chat.eventLoop.now, timeouts: context.shared.timeouts) {
            chat.closeWhenDone()
        } else {
            armTimer()  // the shutdown grace, when no request is in progress
        }
    }

    func channelClosed(chat: ChatChannel) {
        timer?.cancel()
        timer = nil
        handlerTask?.cancel()
        handlerTask = nil
        bodyTask?.cancel()
        bodyTask = nil
        if state.closed() { finishBody(HTTPParseError.bad("connection closed")) }
        stream = nil
        head = nil
        collected = ByteBuffer()
        if self.chat != nil { context.metrics?.closed() }  // once: channelOpened set it
        self.chat = nil
    }

    // MARK: - Requests

    private func handle(_ event: HTTPRequestDecoder.Event, chat: ChatChannel) {
        switch event {
        case .head(let head):
            let action = state.headReceived(head, collectUpTo: limits.maxCollectedBodyBytes, now: chat.eventLoop.now)
            armTimer()
            switch action {
            case .dispatch(let id):
                dispatch(head, id: id, body: .empty, chat: chat)
            case .collect(let capacity):
                self.head = head
                collected = chat.allocator.buffer(capacity: capacity)
            case .stream(let id):
                startStreaming(head, id: id, chat: chat)
            }

        case .body(var bytes):
            switch state.bodyBytesReceived(now: chat.eventLoop.now) {
            case .collect:
                collected.writeBuffer(&bytes)
            case .yield:
                if stream?.source.yield(bytes) == .stopProducing, state.bodyBackPressured() {
                    chat.suspendInput()
                }
            case .drop:
                break
            }

        case .end(let trailers):
            switch state.bodyEnded(keepAlive: head?.keepAlive ?? false, now: chat.eventLoop.now) {
            case .dispatchCollected(let id):
                let body = RequestBody(bytes: collected)
                collected = ByteBuffer()
                if let head { dispatch(head, id: id, body: body, chat: chat) }
            case .finishStream(let done, let resumes):
                stream?.delegate.setTrailers(trailers)
                finishBody(nil)
                if !done {
                    chat.suspendInput()  // the next request waits for this response
                } else {
                    exchangeEnded(resumesInput: resumes, chat: chat)
                }
            case .none:
                break
            }
            armTimer()
        }
    }

    /// Ends the body stream, with `error` when it was cut short.
    private func finishBody(_ error: HTTPParseError?) {
        guard let stream else { return }
        if let error { stream.source.finish(error) } else { stream.source.finish() }
        self.stream = nil
    }

    private func startStreaming(_ head: HTTPRequestHead, id: Int, chat: ChatChannel) {
        let loop = chat.eventLoop
        let me = NIOLoopBound(WeakConnection(self), eventLoop: loop)
        let delegate = BodyStreamDelegate(
            .init(
                produceMore: { loop.execute { me.value.connection?.bodyDemanded(id) } },
                terminated: { loop.execute { me.value.connection?.bodyAbandoned(id) } },
                wanted: { loop.execute { me.value.connection?.bodyWanted(id) } }
            )
        )
        let made = RequestBody.Stream.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8),
            finishOnDeinit: false,
            delegate: delegate
        )
        let knownLength: Int? = if case .length(let n) = head.framing { n } else { nil }
        let body = RequestBody(stream: made.sequence, delegate: delegate, knownLength: knownLength)
        stream = BodyStream(source: made.source, delegate: delegate)
        dispatch(head, id: id, body: body, chat: chat)
    }

    private func dispatch(_ head: HTTPRequestHead, id: Int, body: RequestBody, chat: ChatChannel) {
        self.head = head
        if state.exchange?.body == .complete { chat.suspendInput() }  // the next pipelined request waits for this response
        if let own = ServerWideOptions.response(to: head, limits: limits) {
            respond(.success(own), to: id)  // `OPTIONS *` is the server's to answer, not a responder's
            return
        }
        var request = Request(
            method: head.method, target: head.target, version: head.version,
            headerFields: head.headerFields, body: body, remoteAddress: chat.remoteAddress,
            localAddress: chat.localAddress
        )
        if context.isTLS { request.tls = tlsInfo(chat) }
        request.peerAddress = chat.peerAddress
        // Forwarding fields count only from a trusted proxy: from anyone else they are the client's own
        // claims. The peer here is the PROXY header's client when there was one; a header that named no
        // client (UNKNOWN, LOCAL) leaves the proxy as the peer, but the fields on such a connection were
        // written by whoever the proxy relays, not by the proxy.
        if !context.trustedProxies.isEmpty, !chat.proxyHeaderNamedNoClient,
            CIDR.any(context.trustedProxies, contain: chat.remoteAddress),
            let forwarded = ForwardedClient.resolve(head.headerFields, trusted: context.trustedProxies)
        {
            if let address = forwarded.address { request.remoteAddress = address }
            request.forwardedScheme = forwarded.scheme
            request.forwardedHost = forwarded.host
        }
        if let immediate = context.immediate {
            do {
                if let response = try immediate.respondImmediately(to: request) {
                    respond(.success(response), to: id)
                    return
                }
            } catch {
                respond(.failure(error), to: id)
                return
            }
        }
        let responder = context.responder
        let me = NIOLoopBound(self, eventLoop: chat.eventLoop)
        handlerTask = Task(executorPreference: executor) {
            let result: Result<Response, any Error>
            do {
                result = .success(try await responder.respond(to: request))
            } catch {
                result = .failure(error)
            }
            if me.eventLoop.inEventLoop {
                me.value.respond(result, to: id)
            } else {
                me.eventLoop.execute { me.value.respond(result, to: id) }
            }
        }
        if peerFinished { handlerTask?.cancel() }
    }

    private func bodyDemanded(_ id: Int) {
        guard let chat, state.bodyDemanded(id: id, now: chat.eventLoop.now) else { return }
        armTimer()
        chat.resumeInput()
    }

    private func bodyAbandoned(_ id: Int) {
        guard let chat, state.bodyAbandoned(id: id, now: chat.eventLoop.now) else { return }
        armTimer()
        chat.resumeInput()
    }

    private func bodyWanted(_ id: Int) {
        guard let chat, state.bodyWanted(id: id, now: chat.eventLoop.now) else { return }
        chat.push(chat.allocator.buffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n"))
        armTimer()
    }

    // MARK: - Responses

    private func respond(_ result: Result<Response, any Error>, to id: Int) {
        var response: Response
        var closes = false
        handlerTask = nil
        switch result {
        case .success(let r):
            response = r
        case .failure(let error) where (peerFinished || chat == nil) && error is CancellationError:
            // The client stopped sending and the responder gave up on it: nobody waits for an answer.
            context.logger.debug("responder cancelled: the client went away", metadata: ["target": "\(head?.target ?? "")"])
            chat?.close()
            return
        case .failure(let error):
            let mapped = ErrorResponse(error)
            if mapped.isUnexpected {
                context.logger.error(
                    "responder failed", metadata: ["error": "\(error)", "target": "\(head?.target ?? "")"]
                )
            }
            closes = mapped.closesConnection
            response = mapped.response
        }
        guard let chat, chat.isActive, let head,
            case .write(let keepAlive, let replacement, let endsExchange) = state.responseReady(id: id, closesConnection: closes)
        else {
            Self.cancel(response.body)
            return
        }
        if let replacement {
            Self.cancel(response.body)
            response = ErrorResponse(replacement).response
        } else if let upgrade = response.upgrade {
            if let refusal = upgradeRefusal(head: head, keepAlive: keepAlive) {
                context.logger.error(
                    "responder answered 101 to a request that cannot be upgraded; answered 500",
                    metadata: ["reason": "\(refusal)", "target": "\(head.target)"]
                )
                response = HTTPError(.internalServerError).response
            } else {
                switchProtocols(response, to: upgrade, chat: chat)
                return
            }
        } else if !ResponsePlan.isFinal(response.status) {
            // 1xx, 101 or a code outside 200-599 as the whole answer would desynchronize the client.
            context.logger.error(
                "responder returned a status that is not a final one; answered 500",
                metadata: ["status": "\(response.status.code)", "target": "\(head.target)"]
            )
            Self.cancel(response.body)
            response = HTTPError(.internalServerError).response
        }
        write(response, method: head.method, version: head.version, keepAlive: keepAlive, chat: chat)
        if endsExchange { exchangeEnded(resumesInput: state.exchangeDone(now: chat.eventLoop.now), chat: chat) }
    }

    /// After ``HTTPConnectionState/exchangeDone(now:)``: reads the next request, or waits for the close.
    private func exchangeEnded(resumesInput: Bool, chat: ChatChannel) {
        head = nil
        guard resumesInput else { return }
        armTimer()
        chat.resumeInput()
    }

    /// Why this exchange cannot switch protocols, or nil when it can: the request must have asked for it
    /// (`Upgrade`), be HTTP/1.1, have no unread body, and not be the connection's last exchange.
    private func upgradeRefusal(head: HTTPRequestHead, keepAlive: Bool) -> String? {
        if head.headerFields[Self.upgradeField] == nil { return "the request has no Upgrade field" }
        if head.version != .http1_1 { return "only an HTTP/1.1 request can be upgraded" }
        if state.exchange?.body != .complete { return "the request's body has not been read" }
        if !keepAlive { return "the connection is closing" }
        return nil
    }

    private static let upgradeField = HTTPField.Name("Upgrade")!

    /// Writes the 101 and hands the connection, with what it has received after this request, to the new
    /// protocol. HTTP is over on this connection: its timers stop, and it gets no more callbacks.
    private func switchProtocols(_ response: Response, to upgrade: ProtocolUpgrade, chat: ChatChannel) {
        var out = chat.allocator.buffer(capacity: 256)
        var fields = response.headerFields
        context.responseHeaders?.apply(to: &fields)
        ResponseHeadWriter.write(
            status: .switchingProtocols, fields: fields, framing: .none, connection: .upgrade, into: &out
        )
        chat.push(out)
        timer?.cancel()
        timer = nil
        finishBody(nil)
        head = nil
        chat.handOff(to: upgrade.make())
    }

    private func write(
        _ response: Response, method: HTTPRequest.Method, version: HTTPVersion, keepAlive: Bool, chat: ChatChannel
    ) {
        var response = response
        // Every head goes out here (the responder's answers and the connection's own errors): the one place
        // the server-wide fields are set.
        context.responseHeaders?.apply(to: &response.headerFields)
        let plan = ResponsePlan.make(
            method: method, version: version, keepAlive: keepAlive, status: response.status,
            bodyLength: response.body.length
        )
        let sendsBody = plan.sendsBody

        // Room for the head and, when it will share the write, a small body: no regrowth on the way.
        var bodyBytes = 0
        if sendsBody, case .bytes(let b) = response.body.storage, b.readableBytes <= 16 * 1024 { bodyBytes = b.readableBytes }
        var out = chat.allocator.buffer(capacity: 320 + bodyBytes)
        ResponseHeadWriter.write(
            status: response.status, fields: response.headerFields, framing: plan.framing,
            connection: plan.connection, into: &out
        )
        if !sendsBody {
            Self.cancel(response.body)
            chat.push(out)
        } else {
            switch response.body.storage {
            case .bytes(var bytes):
                if bytes.readableBytes <= 16 * 1024 {
                    out.writeBuffer(&bytes)  // one write for a small response
                    chat.push(out)
                } else {
                    chat.push(out)
                    chat.push(bytes)
                }
            case .producer(let producer, let length):
                // A body of known length from a producer is a file: cork so the head and the file's first
                // bytes share segments and every segment is full (nginx's tcp_nopush; it halves what a
                // client spends receiving a large file). Streams and chunked bodies are not corked: a wait
                // between their pieces would hold a partial segment back.
                let corked = length != nil
                if corked { chat.cork() }
                chat.push(out)
                Self.push(producer, framing: plan.framing, to: chat)
                if corked { chat.uncork() }
            case .stream(_, let writeBody):
                chat.push(out)
                let bridge = StreamBridge(highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024, executor: executor)
                let producer = StreamBridgeProducer(bridge: bridge)
                Self.push(producer, framing: plan.framing, to: chat)
                let logger = context.logger
                bodyTask = Task(executorPreference: executor) {
                    do {
                        try await writeBody(BodyWriter(bridge))
                        bridge.finish()
                    } catch {
                        logger.debug("response body stream failed", metadata: ["error": "\(error)"])
                        bridge.abort()  // what it wrote goes out, then the connection closes, the body cut short
                    }
                }
            }
        }
        if !plan.persistent {
            state.responseCloses()
            chat.closeWhenDone()
        }
    }

    /// Pushes a body producer as the plan frames it (the existential is opened here): chunked when its length
    /// is unknown, held to its length when it declared one (``DeclaredLengthProducer``).
    private static func push<P: ChatProducer>(_ producer: P, framing: ResponseHeadWriter.Framing, to chat: ChatChannel) {
        switch framing {
        case .chunked: chat.push(producer: ChunkedEncodingProducer(producer))
        case .length(let n): chat.push(producer: DeclaredLengthProducer(producer, length: n))
        case .none, .untilClose: chat.push(producer: producer)
        }
    }

    private static func cancel(_ body: ResponseBody) {
        if case .producer(var producer, _) = body.storage { producer.cancel() }
    }

    // MARK: - Errors

    /// A request could not be read: answer its status with `Connection: close`, unless a response for it
    /// has already begun, then close.
    private func fail(_ error: HTTPParseError, chat: ChatChannel) {
        context.logger.debug("bad request", metadata: ["error": "\(error)"])
        chat.suspendInput()
        switch state.requestFailed(error) {
        case .sendError:
            collected = ByteBuffer()
            sendError(error, chat: chat)
        case .failBody:
            finishBody(error)  // the responder is still running: its answer is replaced
        case .closeWhenDone:
            chat.closeWhenDone()
        }
    }

    /// Answers a request that could not be read, outside any exchange: the status ``ErrorResponse`` maps the
    /// error to, framed by the plan like every answer (no request to read its method from: a GET's framing),
    /// with `Connection: close`.
    private func sendError(_ error: HTTPParseError, chat: ChatChannel) {
        write(ErrorResponse(error).response, method: .get, version: .http1_1, keepAlive: false, chat: chat)
    }

    /// The connection's TLS facts: the handshake completed before any request byte was decrypted.
    private func tlsInfo(_ chat: ChatChannel) -> TLSConnectionInfo? {
        if tls == nil {
            tls = (try? chat.channel?.pipeline.syncOperations.handler(type: TLSSessionObserver.self))?.info
        }
        return tls
    }

    // MARK: - Timeouts

    /// Arms the one timer for the state's deadline. A later deadline keeps the armed timer (when it fires, the
    /// state answers ``HTTPConnectionState/TimerAction/rearm(_:)``), so moving between phases costs no timer
    /// churn unless the new deadline comes sooner.
    private func armTimer() {
        guard let chat, let deadline = state.deadline(context.shared.timeouts) else { return }
        arm(at: deadline, chat: chat)
    }

    private func arm(at deadline: NIODeadline, chat: ChatChannel) {
        if let timer {
            if timerDeadline <= deadline { return }
            timer.cancel()
        }
        timerDeadline = deadline
        timer = chat.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired() }
    }

    private func timerFired() {
        timer = nil
        guard let chat, chat.isActive else { return }
        let now = chat.eventLoop.now
        switch state.timerFired(now: now, timeouts: context.shared.timeouts) {
        case .none:
            return
        case .rearm(let deadline):
            arm(at: deadline, chat: chat)
        case .idleTimeout:
            if chat.checkSending() {
                state.idleRestarted(now: now)  // the last response is still going out: idle starts after it
                armTimer()
                return
            }
            context.logger.trace("idle timeout")
            chat.close()
        case .shutdownGraceOver:
            chat.closeWhenDone()
        case .headTimeout:
            context.logger.debug("header read timeout")
            chat.suspendInput()
            if decoder.isIdle {
                chat.close()
            } else {
                sendError(HTTPParseError(.requestTimeout, "the head did not arrive in time"), chat: chat)
            }
        case .bodyTimeout:
            fail(HTTPParseError(.requestTimeout, "the body stalled"), chat: chat)
        }
    }
}

/// A weak reference a callback can hold without keeping the connection alive.
final class WeakConnection {
    weak var connection: HTTPConnection?
    init(_ connection: HTTPConnection) { self.connection = connection }
}
