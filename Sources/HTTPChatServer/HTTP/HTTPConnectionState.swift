import HTTPChatCore
import NIOCore

/// The exchange state of one HTTP/1.1 connection as values, with no I/O (SwiftNIO's `HTTPServerPipelineHandler`
/// and Hummingbird's connection state machine are the models): which request is read or answered, how far its
/// body is, whether `100 Continue` is owed, whether the connection stays open, and which timeout runs. Each
/// event from the decoder, the responder, the body's consumer or the clock is a mutating transition that answers
/// what ``HTTPConnection`` must do; the connection carries that out on the ``ChatChannel``.
///
/// Time comes in as a parameter (`now`), never from a clock inside, so tests drive the timeouts directly.
struct HTTPConnectionState {
    /// Where the connection is, for the timeouts. One timer serves every phase.
    enum Phase: Equatable {
        /// Between requests, nothing received: the idle timeout runs.
        case idle(since: NIODeadline)
        /// A head is expected or arriving: the header-read timeout runs.
        case head(since: NIODeadline)
        /// A body is expected from the client: the body-read timeout runs from the last bytes received.
        case body(since: NIODeadline)
        /// A request is being answered, or its body is held back by the server: no timeout.
        case busy
    }

    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    enum Persistence: Equatable {
        /// It may, if the exchange allows it.
        case keepAlive
        /// It closes after what is being answered: a `close` was sent or will be, the client half-closed, a
        /// request could not be read, a timeout ran out, or the server is shutting down.
        case closing
    }

    /// How far the request body of the exchange is.
    enum Body: Equatable {
        /// Read to its end (or there was none).
        case complete
        /// Arriving; its bytes go to the consumer.
        case streaming
        /// The consumer wants no more for now: input is suspended until it asks.
        case paused
        /// The consumer dropped the body: the rest is read and discarded, so the connection can go on.
        case discarding
        /// It ended in an error (the client closed or sent bad framing): nothing more is read.
        case failed
    }

    /// Whether the client waits for `100 Continue` before it sends its body (RFC 9110 §10.1.1).
    enum Continue: Equatable {
        case notExpected
        /// Owed: sent when the body is first read, unless the response comes first.
        case pending
        case sent
    }

    /// The request being answered: plain values only, so moving it in and out of ``Request`` costs no
    /// reference counting on the hot path (the head stays with the connection, a failure in ``failure``).
    struct Exchange: Equatable {
        /// Answers and body events carry it, so a late one for an earlier exchange is ignored.
        let id: Int
        /// What the client asked for (its version and `Connection` field).
        let clientKeepAlive: Bool
        var body: Body
        var expectation: Continue
        /// Whether the response has been written.
        var responded = false
    }

    /// The request, from its head to the end of its exchange.
    enum Request: Equatable {
        /// No request: between requests, or a head arriving.
        case none
        /// A short body with a known length is collected before the responder runs (the connection holds the
        /// head).
        case collecting
        /// The responder has the request.
        case exchange(Exchange)
    }

    private(set) var phase: Phase
    private(set) var persistence = Persistence.keepAlive
    private(set) var request = Request.none
    private(set) var lastID = 0
    /// When a graceful shutdown reached the connection with no request in progress: it closes once
    /// ``ConnectionTimeouts/shutdownIdle`` has passed from then without one starting.
    private(set) var shutdownSince: NIODeadline?
    /// The exchange's request turned out unreadable after the responder started: its answer is replaced by the
    /// error response of this.
    private(set) var failure: HTTPParseError?

    /// A connection that opened at `now`: a head is expected.
    init(openedAt now: NIODeadline) {
        phase = .head(since: now)
    }

    /// A connection in the given state (tests start the machine anywhere).
    init(
        phase: Phase, persistence: Persistence = .keepAlive, request: Request = .none, lastID: Int = 0,
        failure: HTTPParseError? = nil
    ) {
        self.phase = phase
        self.persistence = persistence
        self.request = request
        self.lastID = lastID
        self.failure = failure
    }

    /// The exchange, if the responder has a request.
    var exchange: Exchange? {
        if case .exchange(let ex) = request { return ex }
        return nil
    }

    // MARK: - Input from the decoder

    /// Bytes arrived: between requests they start a head.
    mutating func bytesArrived(now: NIODeadline) {
        if case .idle = phase { phase = .head(since: now) }
    }

    /// What to do with a request head.
    enum HeadAction: Equatable {
        /// Run the responder now with no body; input waits (suspended) until its response is written.
        case dispatch(id: Int)
        /// Collect a body of this many bytes first.
        case collect(capacity: Int)
        /// Run the responder now with a body stream fed as bytes arrive.
        case stream(id: Int)
    }

    /// A head was read. Bodies of a known length up to `collectUpTo` bytes are collected before the responder
    /// runs (unless the client waits for `100 Continue`); others stream.
    mutating func headReceived(_ head: HTTPRequestHead, collectUpTo: Int, now: NIODeadline) -> HeadAction {
        switch head.framing {
        case .none:
            phase = .busy
            return .dispatch(id: begin(keepAlive: head.keepAlive, expectsContinue: head.expectsContinue, body: .complete))
        case .length(let n) where n <= collectUpTo && !head.expectsContinue:
            phase = .body(since: now)
            request = .collecting
            return .collect(capacity: n)
        default:
            // A client that expects 100 Continue sends nothing until it is sent (``bodyWanted(id:now:)``).
            phase = head.expectsContinue ? .busy : .body(since: now)
            return .stream(id: begin(keepAlive: head.keepAlive, expectsContinue: head.expectsContinue, body: .streaming))
        }
    }

    private mutating func begin(keepAlive: Bool, expectsContinue: Bool, body: Body) -> Int {
        lastID += 1
        failure = nil
        request = .exchange(
            Exchange(
                id: lastID, clientKeepAlive: keepAlive, body: body,
                expectation: expectsContinue ? .pending : .notExpected
            )
        )
        return lastID
    }

    /// Where body bytes go.
    enum BodyBytesAction: Equatable {
        /// Into the collected body.
        case collect
        /// To the consumer's stream.
        case yield
        /// Nowhere: the consumer is gone or the body failed.
        case drop
    }

    /// Body bytes arrived: the body-read timeout starts again.
    mutating func bodyBytesReceived(now: NIODeadline) -> BodyBytesAction {
        if case .body = phase { phase = .body(since: now) }
        switch request {
        case .collecting: return .collect
        case .exchange(let ex) where ex.body == .streaming || ex.body == .paused: return .yield
        case .exchange, .none: return .drop
        }
    }

    /// The consumer's stream refused more (back-pressure): input is suspended until it asks; no timeout runs
    /// meanwhile (the server holds the body back, not the client). Returns whether to suspend input.
    mutating func bodyBackPressured() -> Bool {
        guard case .exchange(var ex) = request, ex.body == .streaming else { return false }
        ex.body = .paused
        request = .exchange(ex)
        phase = .busy
        return true
    }

    /// What to do at the end of a body.
    enum EndAction: Equatable {
        /// The collected body is whole: run the responder with it (input waits until its response is written).
        case dispatchCollected(id: Int)
        /// Finish the consumer's stream; the exchange ends at once when it was answered already (then input goes
        /// on when `resumesInput`), else input waits for the answer.
        case finishStream(exchangeDone: Bool, resumesInput: Bool)
        /// Nothing is waiting for it.
        case none
    }

    /// The body ended (its trailers are the connection's to hand over). `keepAlive` is what the head of a
    /// collected body asked for (a collected body never expects `100 Continue`).
    mutating func bodyEnded(keepAlive: Bool, now: NIODeadline) -> EndAction {
        phase = .busy
        switch request {
        case .collecting:
            return .dispatchCollected(id: begin(keepAlive: keepAlive, expectsContinue: false, body: .complete))
        case .exchange(var ex):
            ex.body = .complete
            request = .exchange(ex)
            guard ex.responded else { return .finishStream(exchangeDone: false, resumesInput: false) }
            return .finishStream(exchangeDone: true, resumesInput: exchangeDone(now: now))
        case .none:
            return .none
        }
    }

    // MARK: - The body's consumer

    /// The consumer asks for more after back-pressure. Returns whether to resume input (the body-read timeout
    /// runs from now).
    mutating func bodyDemanded(id: Int, now: NIODeadline) -> Bool {
        guard case .exchange(var ex) = request, ex.id == id, ex.body == .paused else { return false }
        ex.body = .streaming
        request = .exchange(ex)
        phase = .body(since: now)
        return true
    }

    /// The consumer dropped the body: the rest is discarded. Returns whether to resume input (it was paused).
    mutating func bodyAbandoned(id: Int, now: NIODeadline) -> Bool {
        guard case .exchange(var ex) = request, ex.id == id else { return false }
        let wasPaused = ex.body == .paused
        if ex.body == .streaming || ex.body == .paused { ex.body = .discarding }
        request = .exchange(ex)
        if wasPaused { phase = .body(since: now) }
        return wasPaused
    }

    /// The consumer starts reading the body. Returns whether to send `100 Continue` now (it is owed and no
    /// response went out).
    mutating func bodyWanted(id: Int, now: NIODeadline) -> Bool {
        guard case .exchange(var ex) = request, ex.id == id, ex.expectation == .pending, !ex.responded else {
            return false
        }
        ex.expectation = .sent
        request = .exchange(ex)
        if ex.body == .streaming || ex.body == .discarding { phase = .body(since: now) }
        return true
    }

    // MARK: - Responses

    /// What to do with the responder's answer.
    enum ResponseAction: Equatable {
        /// It is for no current exchange (late, duplicated, or the connection closed): cancel its body.
        case discard
        /// Write it (or, when `replacement` is set, the error response for that failure instead), framed with
        /// `keepAlive` asked of the plan; the exchange ends after the write when `endsExchange`.
        case write(keepAlive: Bool, replacement: HTTPParseError?, endsExchange: Bool)
    }

    /// The responder answered exchange `id`. `closesConnection` is set when its error asks to close.
    mutating func responseReady(id: Int, closesConnection: Bool) -> ResponseAction {
        guard case .exchange(var ex) = request, ex.id == id, !ex.responded else { return .discard }
        if closesConnection || failure != nil { persistence = .closing }
        ex.responded = true
        request = .exchange(ex)
        // A body still arriving is read to its end after the response (handed to its consumer, or discarded
        // once the consumer drops it), so the connection can stay open; but a client still waiting for
        // 100 Continue may never send its body: then close after this response (RFC 9110 §10.1.1).
        let waitsForContinue = ex.expectation == .pending && ex.body != .complete
        let keepAlive = ex.clientKeepAlive && persistence == .keepAlive && !waitsForContinue
        return .write(keepAlive: keepAlive, replacement: failure, endsExchange: ex.body == .complete)
    }

    /// The response written closes the connection (its plan was not persistent).
    mutating func responseCloses() {
        persistence = .closing
    }

    /// The exchange is over (answered, body read). Returns whether to read the next request (input resumes and
    /// the idle timeout runs) or not (the connection is closing).
    mutating func exchangeDone(now: NIODeadline) -> Bool {
        request = .none
        failure = nil
        guard persistence == .keepAlive else { return false }
        phase = .idle(since: now)
        return true
    }

    // MARK: - Failures and ends

    /// What to do when a request cannot be read (input is suspended in every case).
    enum FailureAction: Equatable {
        /// No exchange: answer the error status with `Connection: close`.
        case sendError
        /// The responder is still running: fail the body stream; its answer will be replaced by the error's.
        case failBody
        /// The response has begun: close after it.
        case closeWhenDone
    }

    /// The request could not be read (a parse error, or its body stalled).
    mutating func requestFailed(_ error: HTTPParseError) -> FailureAction {
        persistence = .closing
        switch request {
        case .none, .collecting:
            request = .none
            return .sendError
        case .exchange(var ex):
            guard !ex.responded else { return .closeWhenDone }
            failure = error
            if ex.body != .complete { ex.body = .failed }
            request = .exchange(ex)
            return .failBody
        }
    }

    /// What to do when the client half-closes.
    enum InputClosedAction: Equatable {
        /// Close once the output queued so far is written.
        case closeWhenDone
        /// Fail the body stream (it was cut short); close after it when the response was written already, else
        /// the response closes the connection.
        case failBody(closeWhenDone: Bool)
        /// The response, still to come, closes the connection.
        case none
    }

    /// The client half-closed: nothing more will come, so the connection closes after what it owes.
    mutating func inputClosed() -> InputClosedAction {
        persistence = .closing
        switch request {
        case .none, .collecting:
            request = .none
            return .closeWhenDone
        case .exchange(var ex):
            if ex.body == .complete || ex.body == .failed { return ex.responded ? .closeWhenDone : .none }
            ex.body = .failed
            request = .exchange(ex)
            return .failBody(closeWhenDone: ex.responded)
        }
    }

    /// The server is shutting down at `now`. Returns whether to close now: when no request is in progress and
    /// there is no grace (`timeouts.shutdownIdle` nil). With a grace, such a connection closes when it runs out
    /// (the timer's ``TimerAction/shutdownGraceOver``) unless a request starts first; every exchange in progress or
    /// to come is answered with `Connection: close`.
    mutating func shutdownRequested(now: NIODeadline, timeouts: ConnectionTimeouts) -> Bool {
        persistence = .closing
        guard request == .none else { return false }
        guard timeouts.shutdownIdle != nil else { return true }
        shutdownSince = now
        return false
    }

    /// The connection closed. Returns whether a body stream was cut short (to fail it).
    mutating func closed() -> Bool {
        defer {
            request = .none
            phase = .busy
        }
        guard case .exchange(let ex) = request else { return false }
        return ex.body == .streaming || ex.body == .paused || ex.body == .discarding
    }

    // MARK: - Timeouts

    /// When the timeout of `phase` runs out, if one runs.
    func deadline(_ timeouts: ConnectionTimeouts) -> NIODeadline? {
        let own: NIODeadline? =
            switch phase {
            case .busy: nil
            case .idle(let since): timeouts.idle.map { since + $0 }
            case .head(let since): timeouts.headerRead.map { since + $0 }
            case .body(let since): timeouts.bodyRead.map { since + $0 }
            }
        guard let drain = shutdownDeadline(timeouts) else { return own }
        return min(own ?? drain, drain)
    }

    /// The end of the shutdown grace, while it applies: no request in progress since the shutdown came.
    private func shutdownDeadline(_ timeouts: ConnectionTimeouts) -> NIODeadline? {
        guard let shutdownSince, request == .none, let grace = timeouts.shutdownIdle else { return nil }
        return shutdownSince + grace
    }

    /// What to do when the timer fires.
    enum TimerAction: Equatable {
        /// No timeout runs now.
        case none
        /// The deadline moved (the phase changed since the timer was armed): arm again for it.
        case rearm(NIODeadline)
        /// Idle too long: close, unless the last response is still going out (then call ``idleRestarted(now:)``).
        case idleTimeout
        /// The shutdown's grace passed with no request started: close after pending output.
        case shutdownGraceOver
        /// The head did not arrive in time: `408` (or a plain close when nothing of it came).
        case headTimeout
        /// The body stalled: fail the request with `408`.
        case bodyTimeout
    }

    /// The timer fired at `now`. The phase may have moved on since it was armed, so this reads it again.
    mutating func timerFired(now: NIODeadline, timeouts: ConnectionTimeouts) -> TimerAction {
        guard let deadline = deadline(timeouts) else { return .none }
        guard now >= deadline else { return .rearm(deadline) }
        if let drain = shutdownDeadline(timeouts), now >= drain {
            shutdownSince = nil
            phase = .busy
            return .shutdownGraceOver
        }
        switch phase {
        case .busy:
            return .none
        case .idle:
            return .idleTimeout
        case .head:
            persistence = .closing
            return .headTimeout
        case .body:
            phase = .busy
            return .bodyTimeout
        }
    }

    /// The idle timeout found the last response still going out: idle starts after it.
    mutating func idleRestarted(now: NIODeadline) {
        phase = .idle(since: now)
    }
}
