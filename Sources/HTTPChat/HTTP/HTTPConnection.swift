import HTTPTypes
import Logging
import NIOCore

/// What every connection of a server shares: one instance per server (a class, so each connection holds a
/// reference instead of its own copy of the limits and logger; 10,000 idle connections are ~2 MiB lighter).
final class HTTPConnectionContext: Sendable {
    let responder: any HTTPResponder
    let immediate: (any ImmediateHTTPResponder)?
    /// The limits, one copy that the connections' decoders share by reference.
    let shared: SharedLimits
    var limits: HTTPLimits { shared.limits }
    let logger: Logger

    init(responder: any HTTPResponder, limits: HTTPLimits, logger: Logger) {
        self.responder = responder
        self.immediate = responder as? any ImmediateHTTPResponder
        self.shared = SharedLimits(limits)
        self.logger = logger
    }
}

/// HTTP/1.1 on the chat layer: the seeds' `http_request_handler`, grown up. One per connection.
///
/// The ``HTTPRequestDecoder`` decides the terminators; this class carries out what it finds: runs the
/// responder for each request, one at a time, writes responses in order (pipelined requests wait in the
/// framer's buffer, input suspended, until the response before them is queued), keeps or closes the
/// connection (RFC 9112 §9.3), sends `100 Continue` when a body is first read, and enforces the header-read,
/// body-read and idle timeouts.
final class HTTPConnection: ChatProtocol {
    /// Where the connection is, for the timeouts.
    private enum Phase {
        /// Between requests, nothing received: the idle timeout runs.
        case idle(since: NIODeadline)
        /// A head is expected or arriving: the header-read timeout runs.
        case head(since: NIODeadline)
        /// A body is expected from the client: the body-read timeout runs from the last bytes received.
        case body(since: NIODeadline)
        /// A request is being answered, or its body is held back by the server: no timeout.
        case busy
    }

    /// The request being answered.
    private struct Exchange {
        let id: Int
        let head: HTTPRequestHead
        var source: RequestBody.Stream.Source?
        var delegate: BodyStreamDelegate?
        var bodyComplete: Bool
        var bodyPaused = false
        var consumerGone = false
        var continuePending: Bool
        var responded = false
        var parseFailure: HTTPParseError?
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
    private var exchange: Exchange?
    private var collecting: (head: HTTPRequestHead, body: ByteBuffer)?
    private var nextID = 0
    private var phase = Phase.busy
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    private var closing = false
    private var shuttingDown = false

    init(context: HTTPConnectionContext) {
        self.context = context
        self.decoder = HTTPRequestDecoder(shared: context.shared)
    }

    // MARK: - Chat callbacks

    func channelOpened(_ chat: ChatChannel) {
        self.chat = chat
        chat.terminator = decoder.terminator
        enter(.head(since: chat.eventLoop.now))
    }

    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        if case .idle = phase { enter(.head(since: chat.eventLoop.now)) }
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
        closing = true
        if collecting != nil {
            collecting = nil
            chat.closeWhenDone()
        } else if var ex = exchange {
            if !ex.bodyComplete {
                ex.source?.finish(HTTPParseError.bad("the client closed before the body ended"))
                ex.source = nil
                exchange = ex
            }
            if ex.responded { chat.closeWhenDone() }  // else respond() closes after the response
        } else {
            chat.closeWhenDone()
        }
    }

    func shutdownRequested(chat: ChatChannel) {
        shuttingDown = true
        closing = true
        if exchange == nil && collecting == nil { chat.closeWhenDone() }
    }

    func channelClosed(chat: ChatChannel) {
        timer?.cancel()
        timer = nil
        if let ex = exchange, !ex.bodyComplete {
            ex.source?.finish(HTTPParseError.bad("connection closed"))
        }
        exchange = nil
        collecting = nil
        self.chat = nil
    }

    // MARK: - Requests

    private func handle(_ event: HTTPRequestDecoder.Event, chat: ChatChannel) {
        switch event {
        case .head(let head):
            switch head.framing {
            case .none:
                enter(.busy)
                dispatch(head, body: .empty, complete: true, chat: chat)
            case .length(let n) where n <= limits.maxCollectedBodyBytes && !head.expectsContinue:
                enter(.body(since: chat.eventLoop.now))
                collecting = (head, chat.allocator.buffer(capacity: n))
            default:
                // A client that expects 100 Continue sends nothing until it is sent (bodyWanted).
                enter(head.expectsContinue ? .busy : .body(since: chat.eventLoop.now))
                startStreaming(head, chat: chat)
            }

        case .body(var bytes):
            if case .body = phase { phase = .body(since: chat.eventLoop.now) }  // the timer re-reads it
            if collecting != nil {
                collecting!.body.writeBuffer(&bytes)
            } else if var ex = exchange, let source = ex.source, !ex.consumerGone {
                if source.yield(bytes) == .stopProducing {
                    ex.bodyPaused = true
                    exchange = ex
                    enter(.busy)
                    chat.suspendInput()
                }
            }

        case .end(let trailers):
            enter(.busy)
            if let (head, body) = collecting {
                collecting = nil
                dispatch(head, body: RequestBody(bytes: body), complete: true, chat: chat)
            } else if var ex = exchange {
                ex.delegate?.setTrailers(trailers)
                ex.source?.finish()
                ex.source = nil
                ex.bodyComplete = true
                exchange = ex
                if ex.responded { finishExchange(chat: chat) } else { chat.suspendInput() }
            }
        }
    }

    private func startStreaming(_ head: HTTPRequestHead, chat: ChatChannel) {
        let id = nextID + 1
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
        dispatch(head, body: body, complete: false, source: made.source, delegate: delegate, chat: chat)
    }

    private func dispatch(
        _ head: HTTPRequestHead,
        body: RequestBody,
        complete: Bool,
        source: RequestBody.Stream.Source? = nil,
        delegate: BodyStreamDelegate? = nil,
        chat: ChatChannel
    ) {
        nextID += 1
        let id = nextID
        exchange = Exchange(
            id: id, head: head, source: source, delegate: delegate, bodyComplete: complete,
            continuePending: head.expectsContinue
        )
        if complete { chat.suspendInput() }  // the next pipelined request waits for this response
        if let own = ServerWideOptions.response(to: head, limits: limits) {
            respond(.success(own), to: id)  // `OPTIONS *` is the server's to answer, not a responder's
            return
        }
        let request = Request(
            method: head.method, target: head.target, version: head.version,
            headerFields: head.headerFields, body: body, remoteAddress: chat.remoteAddress,
            localAddress: chat.localAddress
        )
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
        Task(executorPreference: executor) {
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
    }

    private func bodyDemanded(_ id: Int) {
        guard var ex = exchange, ex.id == id, ex.bodyPaused else { return }
        ex.bodyPaused = false
        exchange = ex
        resumeBody()
    }

    /// Reads the body again after the server held it back: the body-read timeout runs from now.
    private func resumeBody() {
        guard let chat else { return }
        enter(.body(since: chat.eventLoop.now))
        chat.resumeInput()
    }

    private func bodyAbandoned(_ id: Int) {
        guard var ex = exchange, ex.id == id else { return }
        ex.consumerGone = true
        let wasPaused = ex.bodyPaused
        ex.bodyPaused = false
        exchange = ex
        if wasPaused { resumeBody() }
    }

    private func bodyWanted(_ id: Int) {
        guard var ex = exchange, ex.id == id, ex.continuePending, !ex.responded, let chat else { return }
        ex.continuePending = false
        exchange = ex
        chat.push(chat.allocator.buffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n"))
        if !ex.bodyComplete, !ex.bodyPaused { enter(.body(since: chat.eventLoop.now)) }
    }

    // MARK: - Responses

    private func respond(_ result: Result<Response, any Error>, to id: Int) {
        guard var ex = exchange, ex.id == id, !ex.responded, let chat, chat.isActive else {
            if case .success(let response) = result { Self.cancel(response.body) }
            return
        }
        var response: Response
        switch result {
        case .success(let r):
            response = r
        case .failure(let error):
            let mapped = ErrorResponse(error)
            if mapped.isUnexpected {
                context.logger.error("responder failed", metadata: ["error": "\(error)", "target": "\(ex.head.target)"])
            }
            if mapped.closesConnection { closing = true }
            response = mapped.response
        }
        if let failure = ex.parseFailure {
            Self.cancel(response.body)
            response = ErrorResponse(failure).response
            closing = true
        } else if !ResponsePlan.isFinal(response.status) {
            // 1xx, 101 or a code outside 200-599 as the whole answer would desynchronize the client.
            context.logger.error(
                "responder returned a status that is not a final one; answered 500",
                metadata: ["status": "\(response.status.code)", "target": "\(ex.head.target)"]
            )
            Self.cancel(response.body)
            response = HTTPError(.internalServerError).response
        }
        ex.responded = true
        exchange = ex
        write(response, for: ex, chat: chat)
        if ex.bodyComplete { finishExchange(chat: chat) }
    }

    private func write(_ response: Response, for ex: Exchange, chat: ChatChannel) {
        // A body still arriving is read to its end after the response (handed to its consumer, or discarded
        // once the consumer drops it), so the connection can stay open; but a client still waiting for
        // 100 Continue may never send its body: then close after this response (RFC 9110 §10.1.1).
        let keepAlive = ex.head.keepAlive && !closing && !(ex.continuePending && !ex.bodyComplete)
        let plan = ResponsePlan.make(
            method: ex.head.method, version: ex.head.version, keepAlive: keepAlive, status: response.status,
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
                let bridge = StreamBridge()
                let producer = StreamBridgeProducer(bridge: bridge)
                Self.push(producer, framing: plan.framing, to: chat)
                let me = NIOLoopBound(WeakConnection(self), eventLoop: chat.eventLoop)
                let logger = context.logger
                Task(executorPreference: executor) {
                    do {
                        try await writeBody(BodyWriter(bridge))
                        bridge.finish()
                    } catch {
                        logger.debug("response body stream failed", metadata: ["error": "\(error)"])
                        bridge.fail()
                        me.eventLoop.execute { me.value.connection?.chat?.close() }
                    }
                }
            }
        }
        if !plan.persistent {
            closing = true
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

    private func finishExchange(chat: ChatChannel) {
        exchange = nil
        guard !closing else { return }
        enter(.idle(since: chat.eventLoop.now))
        chat.resumeInput()
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
        closing = true
        collecting = nil
        if var ex = exchange {
            if !ex.responded {
                ex.parseFailure = error  // the responder is still running: its answer is replaced
                ex.source?.finish(error)
                ex.source = nil
                exchange = ex
            } else {
                chat.closeWhenDone()
            }
            return
        }
        sendError(error.status, chat: chat)
    }

    private func sendError(_ status: HTTPResponse.Status, chat: ChatChannel) {
        var out = chat.allocator.buffer(capacity: 160)
        let body = status.reasonPhrase + "\n"
        var fields = HTTPFields()
        fields[.contentType] = "text/plain; charset=utf-8"
        ResponseHeadWriter.write(
            status: status, fields: fields, framing: .length(body.utf8.count), connection: .close, into: &out
        )
        out.writeString(body)
        chat.push(out)
        chat.closeWhenDone()
    }

    // MARK: - Timeouts

    /// Sets the phase. One timer serves every phase: it is armed for the earliest deadline known, and a later
    /// deadline keeps the armed timer (when it fires, ``timerFired()`` re-reads the phase and re-arms), so
    /// moving between phases costs no timer churn unless the new deadline comes sooner.
    private func enter(_ newPhase: Phase) {
        phase = newPhase
        guard let chat, let deadline = deadline(of: newPhase) else { return }
        if let timer {
            if timerDeadline <= deadline { return }
            timer.cancel()
        }
        timerDeadline = deadline
        timer = chat.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired() }
    }

    private func deadline(of phase: Phase) -> NIODeadline? {
        switch phase {
        case .busy: nil
        case .idle(let since): limits.idleTimeout.map { since + $0 }
        case .head(let since): limits.headerReadTimeout.map { since + $0 }
        case .body(let since): limits.bodyReadTimeout.map { since + $0 }
        }
    }

    /// The phase may have moved on since the timer was armed, so this re-reads it and re-arms for a deadline
    /// still ahead.
    private func timerFired() {
        timer = nil
        guard let chat, chat.isActive, let deadline = deadline(of: phase) else { return }
        let now = chat.eventLoop.now
        guard now >= deadline else {
            enter(phase)
            return
        }
        switch phase {
        case .busy:
            return
        case .idle:
            if chat.checkSending() {
                enter(.idle(since: now))  // the last response is still going out: idle starts after it
                return
            }
            context.logger.trace("idle timeout")
            chat.close()
        case .head:
            context.logger.debug("header read timeout")
            closing = true
            chat.suspendInput()
            if decoder.isIdle { chat.close() } else { sendError(.requestTimeout, chat: chat) }
        case .body:
            enter(.busy)
            fail(HTTPParseError(.requestTimeout, "the body stalled"), chat: chat)
        }
    }
}

/// A weak reference a callback can hold without keeping the connection alive.
final class WeakConnection {
    weak var connection: HTTPConnection?
    init(_ connection: HTTPConnection) { self.connection = connection }
}
