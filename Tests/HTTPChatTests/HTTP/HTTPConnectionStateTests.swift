import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// The HTTP connection's decisions, tested as tables of (state, event) -> (state, action), with the clock
/// injected: every `now` is a value the test picks.
@Suite("HTTP connection state machine")
struct HTTPConnectionStateTests {
    typealias S = HTTPConnectionState

    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    static func at(_ seconds: Int64) -> NIODeadline { t0 + .seconds(seconds) }

    static var limits: HTTPLimits {
        var limits = HTTPLimits()
        limits.idleTimeout = .seconds(60)
        limits.headerReadTimeout = .seconds(10)
        limits.bodyReadTimeout = .seconds(30)
        return limits
    }

    static func head(_ framing: BodyFraming, keepAlive: Bool = true, expectsContinue: Bool = false) -> HTTPRequestHead {
        HTTPRequestHead(
            method: .post, target: "/", version: .http1_1, headerFields: [:], framing: framing,
            keepAlive: keepAlive, expectsContinue: expectsContinue
        )
    }

    static func exchange(
        _ body: S.Body, id: Int = 1, keepAlive: Bool = true, expectation: S.Continue = .notExpected,
        responded: Bool = false
    ) -> S.Request {
        var ex = S.Exchange(id: id, clientKeepAlive: keepAlive, body: body, expectation: expectation)
        ex.responded = responded
        return .exchange(ex)
    }

    // MARK: - Heads

    @Test("a head: no body dispatches at once, a short known body is collected, the rest streams", arguments: [
        // (framing, expects 100-continue, action, phase after)
        (BodyFraming.none, false, S.HeadAction.dispatch(id: 1), S.Phase.busy),
        (.length(0), false, .collect(capacity: 0), .body(since: at(5))),
        (.length(100), false, .collect(capacity: 100), .body(since: at(5))),
        (.length(101), false, .stream(id: 1), .body(since: at(5))),
        (.length(100), true, .stream(id: 1), .busy),  // no body comes before 100 Continue: no timeout
        (.chunked, false, .stream(id: 1), .body(since: at(5))),
        (.chunked, true, .stream(id: 1), .busy),
    ])
    func heads(framing: BodyFraming, expectsContinue: Bool, action: S.HeadAction, phase: S.Phase) {
        var state = S(openedAt: Self.at(0))
        let answer = state.headReceived(
            Self.head(framing, expectsContinue: expectsContinue), collectUpTo: 100, now: Self.at(5)
        )
        #expect(answer == action)
        #expect(state.phase == phase)
        switch answer {
        case .collect: #expect(state.request == .collecting)
        case .dispatch, .stream:
            #expect(state.exchange?.id == 1)
            #expect(state.exchange?.body == (framing == .none ? .complete : .streaming))
            #expect(state.exchange?.expectation == (expectsContinue ? .pending : .notExpected))
        }
    }

    @Test("bytes between requests start the header-read timeout; bytes of a head do not restart it")
    func bytesStartHead() {
        var state = S(phase: .idle(since: Self.at(0)))
        state.bytesArrived(now: Self.at(3))
        #expect(state.phase == .head(since: Self.at(3)))
        state.bytesArrived(now: Self.at(7))
        #expect(state.phase == .head(since: Self.at(3)))
    }

    // MARK: - Body bytes

    @Test("body bytes go where the request is, and restart the body-read timeout", arguments: [
        (S.Request.collecting, S.BodyBytesAction.collect),
        (exchange(.streaming), .yield),
        (exchange(.paused), .yield),
        (exchange(.discarding), .drop),
        (exchange(.failed), .drop),
        (exchange(.complete), .drop),
        (.none, .drop),
    ])
    func bodyBytes(request: S.Request, action: S.BodyBytesAction) {
        var state = S(phase: .body(since: Self.at(0)), request: request)
        let answer1 = state.bodyBytesReceived(now: Self.at(9))
        #expect(answer1 == action)
        #expect(state.phase == .body(since: Self.at(9)))
        var busy = S(phase: .busy, request: request)
        _ = busy.bodyBytesReceived(now: Self.at(9))
        #expect(busy.phase == .busy, "a held-back body runs no timeout")
    }

    @Test("back-pressure pauses a streaming body only, and stops its timeout", arguments: [
        (S.Body.streaming, true, S.Body.paused),
        (.paused, false, .paused),
        (.discarding, false, .discarding),
        (.complete, false, .complete),
        (.failed, false, .failed),
    ])
    func backPressure(body: S.Body, suspends: Bool, after: S.Body) {
        var state = S(phase: .body(since: Self.at(0)), request: Self.exchange(body))
        let answer2 = state.bodyBackPressured()
        #expect(answer2 == suspends)
        #expect(state.exchange?.body == after)
        #expect(state.phase == (suspends ? .busy : .body(since: Self.at(0))))
    }

    // MARK: - Body ends

    @Test("the end of a body: dispatch what was collected, or end the exchange if it was answered", arguments: [
        // (request, persistence, action, request after, phase after)
        (S.Request.collecting, S.Persistence.keepAlive,
         S.EndAction.dispatchCollected(id: 1), exchange(.complete), S.Phase.busy),
        (exchange(.streaming), .keepAlive, .finishStream(exchangeDone: false, resumesInput: false),
         exchange(.complete), .busy),
        (exchange(.streaming, responded: true), .keepAlive, .finishStream(exchangeDone: true, resumesInput: true),
         .none, .idle(since: at(20))),
        (exchange(.discarding, responded: true), .keepAlive, .finishStream(exchangeDone: true, resumesInput: true),
         .none, .idle(since: at(20))),
        (exchange(.streaming, responded: true), .closing, .finishStream(exchangeDone: true, resumesInput: false),
         .none, .busy),
        (.none, .keepAlive, .none, .none, .busy),
    ])
    func bodyEnds(request: S.Request, persistence: S.Persistence, action: S.EndAction, after: S.Request, phase: S.Phase) {
        var state = S(phase: .body(since: Self.at(0)), persistence: persistence, request: request)
        let answer3 = state.bodyEnded(keepAlive: true, now: Self.at(20))
        #expect(answer3 == action)
        #expect(state.request == after)
        #expect(state.phase == phase)
    }

    // MARK: - The consumer

    enum ConsumerEvent: CaseIterable { case demanded, abandoned }

    @Test("the consumer: asking again resumes a paused body; dropping it discards the rest", arguments: [
        // (body, event, resumes input, body after)
        (S.Body.streaming, ConsumerEvent.demanded, false, S.Body.streaming),
        (.paused, .demanded, true, .streaming),
        (.discarding, .demanded, false, .discarding),
        (.complete, .demanded, false, .complete),
        (.failed, .demanded, false, .failed),
        (.streaming, .abandoned, false, .discarding),
        (.paused, .abandoned, true, .discarding),
        (.discarding, .abandoned, false, .discarding),
        (.complete, .abandoned, false, .complete),
        (.failed, .abandoned, false, .failed),
    ])
    func consumer(body: S.Body, event: ConsumerEvent, resumes: Bool, after: S.Body) {
        var state = S(phase: .busy, request: Self.exchange(body, id: 4))
        let answer =
            switch event {
            case .demanded: state.bodyDemanded(id: 4, now: Self.at(8))
            case .abandoned: state.bodyAbandoned(id: 4, now: Self.at(8))
            }
        #expect(answer == resumes)
        #expect(state.exchange?.body == after)
        #expect(state.phase == (resumes ? .body(since: Self.at(8)) : .busy))
        // An event for another exchange changes nothing.
        var other = S(phase: .busy, request: Self.exchange(body, id: 5))
        let otherAnswer =
            event == .demanded ? other.bodyDemanded(id: 4, now: Self.at(8)) : other.bodyAbandoned(id: 4, now: Self.at(8))
        #expect(!otherAnswer)
        #expect(other.request == Self.exchange(body, id: 5))
    }

    @Test("100 Continue is sent once, when the body is first wanted and no response went out", arguments: [
        // (expectation, responded, body, sends, phase after)
        (S.Continue.pending, false, S.Body.streaming, true, S.Phase.body(since: at(2))),
        (.pending, false, .paused, true, .busy),
        (.pending, false, .discarding, true, .body(since: at(2))),
        (.pending, true, .streaming, false, .busy),
        (.sent, false, .streaming, false, .busy),
        (.notExpected, false, .streaming, false, .busy),
    ])
    func continueOnce(expectation: S.Continue, responded: Bool, body: S.Body, sends: Bool, phase: S.Phase) {
        var state = S(phase: .busy, request: Self.exchange(body, expectation: expectation, responded: responded))
        let answer4 = state.bodyWanted(id: 1, now: Self.at(2))
        #expect(answer4 == sends)
        #expect(state.phase == phase)
        if sends {
            #expect(state.exchange?.expectation == .sent)
            let answer5 = state.bodyWanted(id: 1, now: Self.at(3))
            #expect(!answer5)
        }
    }

    // MARK: - Responses

    static let badRequest = HTTPParseError.bad("test")

    @Test("a response: keep-alive only when the client, the connection and a sent-or-unneeded 100 allow it", arguments: [
        // (request, persistence, closes, action, persistence after)
        (exchange(.complete), S.Persistence.keepAlive, false,
         S.ResponseAction.write(keepAlive: true, replacement: nil, endsExchange: true), S.Persistence.keepAlive),
        (exchange(.complete, keepAlive: false), .keepAlive, false,
         .write(keepAlive: false, replacement: nil, endsExchange: true), .keepAlive),
        (exchange(.complete), .closing, false, .write(keepAlive: false, replacement: nil, endsExchange: true), .closing),
        (exchange(.complete), .keepAlive, true, .write(keepAlive: false, replacement: nil, endsExchange: true), .closing),
        (exchange(.streaming), .keepAlive, false, .write(keepAlive: true, replacement: nil, endsExchange: false),
         .keepAlive),
        (exchange(.streaming, expectation: .pending), .keepAlive, false,
         .write(keepAlive: false, replacement: nil, endsExchange: false), .keepAlive),
        (exchange(.complete, expectation: .pending), .keepAlive, false,
         .write(keepAlive: true, replacement: nil, endsExchange: true), .keepAlive),
        (exchange(.streaming, expectation: .sent), .keepAlive, false,
         .write(keepAlive: true, replacement: nil, endsExchange: false), .keepAlive),
        (exchange(.complete, responded: true), .keepAlive, false, .discard, .keepAlive),
        (exchange(.complete, id: 2), .keepAlive, false, .discard, .keepAlive),
        (.none, .keepAlive, false, .discard, .keepAlive),
        (.collecting, .keepAlive, false, .discard, .keepAlive),
    ])
    func responses(request: S.Request, persistence: S.Persistence, closes: Bool, action: S.ResponseAction, after: S.Persistence) {
        var state = S(phase: .busy, persistence: persistence, request: request)
        let answer6 = state.responseReady(id: 1, closesConnection: closes)
        #expect(answer6 == action)
        #expect(state.persistence == after)
        if case .write = action { #expect(state.exchange?.responded == true) }
    }

    @Test("the answer to a request that turned out unreadable is replaced by the error's, and closes")
    func replacedAnswer() {
        var state = S(phase: .busy, request: Self.exchange(.streaming))
        let failed = state.requestFailed(Self.badRequest)
        #expect(failed == .failBody)
        #expect(state.failure == Self.badRequest)
        let answer = state.responseReady(id: 1, closesConnection: false)
        #expect(answer == .write(keepAlive: false, replacement: Self.badRequest, endsExchange: false))
        #expect(state.persistence == .closing)
        // The next exchange starts clean.
        var next = S(phase: .busy, request: Self.exchange(.complete, responded: true), failure: Self.badRequest)
        _ = next.exchangeDone(now: Self.at(1))
        #expect(next.failure == nil)
    }

    @Test("after the exchange: the next request is read and the idle timeout runs, unless the connection closes")
    func exchangeDone() {
        var open = S(phase: .busy, request: Self.exchange(.complete, responded: true))
        let answer7 = open.exchangeDone(now: Self.at(4))
        #expect(answer7)
        #expect(open.request == .none)
        #expect(open.phase == .idle(since: Self.at(4)))
        var closing = S(phase: .busy, request: Self.exchange(.complete, responded: true))
        closing.responseCloses()
        let answer8 = closing.exchangeDone(now: Self.at(4))
        #expect(!answer8)
        #expect(closing.phase == .busy)
    }

    // MARK: - Failures, half-close, shutdown, close

    @Test("a request that cannot be read: an error response, a replaced answer, or a close after the response", arguments: [
        (S.Request.none, S.FailureAction.sendError, S.Request.none),
        (.collecting, .sendError, .none),
        (exchange(.streaming), .failBody, exchange(.failed)),
        (exchange(.complete), .failBody, exchange(.complete)),
        (exchange(.streaming, responded: true), .closeWhenDone, exchange(.streaming, responded: true)),
    ])
    func failures(request: S.Request, action: S.FailureAction, after: S.Request) {
        var state = S(phase: .busy, request: request)
        let answer9 = state.requestFailed(Self.badRequest)
        #expect(answer9 == action)
        #expect(state.request == after)
        #expect(state.failure == (action == .failBody ? Self.badRequest : nil))
        #expect(state.persistence == .closing)
    }

    @Test("a half-close: close after what is owed, failing a body cut short", arguments: [
        (S.Request.none, S.InputClosedAction.closeWhenDone, S.Request.none),
        (.collecting, .closeWhenDone, .none),
        (exchange(.streaming), .failBody(closeWhenDone: false), exchange(.failed)),
        (exchange(.paused, responded: true), .failBody(closeWhenDone: true), exchange(.failed, responded: true)),
        (exchange(.complete), .none, exchange(.complete)),
        (exchange(.complete, responded: true), .closeWhenDone, exchange(.complete, responded: true)),
        (exchange(.failed), .none, exchange(.failed)),
    ])
    func halfClose(request: S.Request, action: S.InputClosedAction, after: S.Request) {
        var state = S(phase: .busy, request: request)
        let answer10 = state.inputClosed()
        #expect(answer10 == action)
        #expect(state.request == after)
        #expect(state.persistence == .closing)
    }

    @Test("shutdown closes an idle connection at once; one in an exchange closes after its response", arguments: [
        (S.Request.none, true), (.collecting, false), (exchange(.complete), false),
    ])
    func shutdown(request: S.Request, closesNow: Bool) {
        var state = S(phase: .idle(since: Self.at(0)), request: request)
        var noGrace = Self.limits
        noGrace.shutdownIdleGrace = nil
        let answer11 = state.shutdownRequested(now: Self.at(1), timeouts: ConnectionTimeouts(noGrace))
        #expect(answer11 == closesNow)
        #expect(state.persistence == .closing)
        if case .exchange = request {
            let answer = state.responseReady(id: 1, closesConnection: false)
            #expect(answer == .write(keepAlive: false, replacement: nil, endsExchange: true))
        }
    }

    @Test("with a shutdown grace, a connection with no request waits for one until the grace ends, then closes; a request that comes is answered with close", arguments: [
        S.Phase.idle(since: Self.at(0)), .head(since: Self.at(0)),
    ])
    func shutdownGrace(phase: S.Phase) {
        var limits = Self.limits
        limits.shutdownIdleGrace = .seconds(2)
        let timeouts = ConnectionTimeouts(limits)
        var quiet = S(phase: phase)
        let closesNow = quiet.shutdownRequested(now: Self.at(2), timeouts: timeouts)
        #expect(!closesNow)
        #expect(quiet.deadline(timeouts) == Self.at(4), "got \(String(describing: quiet.deadline(timeouts)))")
        let early = quiet.timerFired(now: Self.at(3), timeouts: timeouts)
        #expect(early == .rearm(Self.at(4)))
        let late = quiet.timerFired(now: Self.at(4), timeouts: timeouts)
        #expect(late == .shutdownGraceOver)
        #expect(quiet.deadline(timeouts) == nil)

        var busy = S(phase: phase)
        _ = busy.shutdownRequested(now: Self.at(2), timeouts: timeouts)
        let action = busy.headReceived(Self.head(.none), collectUpTo: 1024, now: Self.at(3))
        #expect(action == .dispatch(id: 1))
        let fired = busy.timerFired(now: Self.at(4), timeouts: timeouts)
        #expect(fired != .shutdownGraceOver, "the grace cut a request in progress")
        let answer = busy.responseReady(id: 1, closesConnection: false)
        #expect(answer == .write(keepAlive: false, replacement: nil, endsExchange: true))
    }

    @Test("a close fails a body still arriving, and nothing else", arguments: [
        (S.Request.none, false), (.collecting, false), (exchange(.streaming), true),
        (exchange(.paused), true), (exchange(.discarding), true), (exchange(.complete), false), (exchange(.failed), false),
    ])
    func close(request: S.Request, failsBody: Bool) {
        var state = S(phase: .body(since: Self.at(0)), request: request)
        let answer12 = state.closed()
        #expect(answer12 == failsBody)
        #expect(state.request == .none)
        #expect(state.deadline(ConnectionTimeouts(Self.limits)) == nil)
    }

    // MARK: - Timeouts

    @Test("timeouts: each phase's deadline, re-armed when the phase moved, acted on when reached", arguments: [
        // (phase, now, action, phase after)
        (S.Phase.idle(since: at(0)), at(59), S.TimerAction.rearm(at(60)), S.Phase.idle(since: at(0))),
        (.idle(since: at(0)), at(60), .idleTimeout, .idle(since: at(0))),
        (.head(since: at(0)), at(9), .rearm(at(10)), .head(since: at(0))),
        (.head(since: at(0)), at(10), .headTimeout, .head(since: at(0))),
        (.body(since: at(5)), at(34), .rearm(at(35)), .body(since: at(5))),
        (.body(since: at(5)), at(36), .bodyTimeout, .busy),
        (.busy, at(1000), .none, .busy),
    ])
    func timeouts(phase: S.Phase, now: NIODeadline, action: S.TimerAction, after: S.Phase) {
        var state = S(phase: phase)
        let answer13 = state.timerFired(now: now, timeouts: ConnectionTimeouts(Self.limits))
        #expect(answer13 == action)
        #expect(state.phase == after)
        #expect(state.persistence == (action == .headTimeout ? .closing : .keepAlive))
    }

    @Test("a timeout that is off never fires")
    func timeoutOff() {
        var limits = Self.limits
        limits.idleTimeout = nil
        var state = S(phase: .idle(since: Self.at(0)))
        #expect(state.deadline(ConnectionTimeouts(limits)) == nil)
        let answer14 = state.timerFired(now: Self.at(1_000_000), timeouts: ConnectionTimeouts(limits))
        #expect(answer14 == .none)
    }

    @Test("a keep-alive connection through two exchanges, on an injected clock")
    func lifeOfAConnection() {
        var state = S(openedAt: Self.at(0))
        #expect(state.deadline(ConnectionTimeouts(Self.limits)) == Self.at(10))
        state.bytesArrived(now: Self.at(1))
        let answer15 = state.headReceived(Self.head(.none), collectUpTo: 1024, now: Self.at(2))
        #expect(answer15 == .dispatch(id: 1))
        #expect(state.deadline(ConnectionTimeouts(Self.limits)) == nil, "no timeout while the responder runs")
        let answer16 = state.responseReady(id: 1, closesConnection: false)
        #expect(answer16 == .write(keepAlive: true, replacement: nil, endsExchange: true))
        let answer17 = state.exchangeDone(now: Self.at(3))
        #expect(answer17)
        let answer18 = state.timerFired(now: Self.at(10), timeouts: ConnectionTimeouts(Self.limits))
        #expect(answer18 == .rearm(Self.at(63)))
        state.bytesArrived(now: Self.at(30))
        let answer19 = state.headReceived(Self.head(.chunked), collectUpTo: 1024, now: Self.at(31))
        #expect(answer19 == .stream(id: 2))
        let answer20 = state.bodyBytesReceived(now: Self.at(50))
        #expect(answer20 == .yield)
        let answer21 = state.timerFired(now: Self.at(61), timeouts: ConnectionTimeouts(Self.limits))
        #expect(answer21 == .rearm(Self.at(80)))
        let answer22 = state.responseReady(id: 1, closesConnection: false)
        #expect(answer22 == .discard, "a late answer to the first exchange")
        let answer23 = state.responseReady(id: 2, closesConnection: false)
        #expect(answer23 == .write(keepAlive: true, replacement: nil, endsExchange: false))
        let answer24 = state.bodyEnded(keepAlive: true, now: Self.at(70))
        #expect(answer24 == .finishStream(exchangeDone: true, resumesInput: true))
        let answer25 = state.timerFired(now: Self.at(130), timeouts: ConnectionTimeouts(Self.limits))
        #expect(answer25 == .idleTimeout)
    }
}
