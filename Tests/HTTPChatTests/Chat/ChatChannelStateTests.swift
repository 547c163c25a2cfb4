@testable import HTTPChatCore
import Testing

/// The chat channel's decisions, tested as tables of (state, event) -> (state, answer), with no channel.
@Suite("ChatChannel state machine")
struct ChatChannelStateTests {
    typealias S = ChatChannelState

    // MARK: - Life

    enum LifeEvent: CaseIterable { case activated, closeRequested, inactive }

    /// Every (state, event) pair: the state after, and whether the channel must act (tell the protocol, queue
    /// the close marker).
    static let lifeTable: [(S.Lifecycle, LifeEvent, S.Lifecycle, Bool)] = [
        (.new, .activated, .open, true), (.new, .closeRequested, .closing, true), (.new, .inactive, .closed, true),
        (.open, .activated, .open, false), (.open, .closeRequested, .closing, true), (.open, .inactive, .closed, true),
        (.closing, .activated, .closing, false), (.closing, .closeRequested, .closing, false),
        (.closing, .inactive, .closed, true),
        (.lingering, .activated, .lingering, false), (.lingering, .closeRequested, .lingering, false),
        (.lingering, .inactive, .closed, true),
        (.closed, .activated, .closed, false), (.closed, .closeRequested, .closed, false),
        (.closed, .inactive, .closed, false),
    ]

    @Test("life: opened once, closeWhenDone once, closed once; output is taken only before closing")
    func life() {
        #expect(Self.lifeTable.count == S.Lifecycle.allCases.count * LifeEvent.allCases.count)
        for (from, event, to, acts) in Self.lifeTable {
            var state = S(lifecycle: from)
            let answer =
                switch event {
                case .activated: state.activated()
                case .closeRequested: state.closeRequested()
                case .inactive: state.inactive()
                }
            #expect(state.lifecycle == to, "\(from) + \(event)")
            #expect(answer == acts, "\(from) + \(event)")
        }
        #expect(S.Lifecycle.allCases.filter { S(lifecycle: $0).acceptsOutput } == [.new, .open])
        #expect(S.Lifecycle.allCases.filter { S(lifecycle: $0).isActive } == [.new, .open, .closing])
        #expect(S.Lifecycle.allCases.filter { S(lifecycle: $0).isOpen } == [.new, .open, .closing, .lingering])
        for life in S.Lifecycle.allCases {
            var state = S(lifecycle: life)
            #expect(state.lingerStarted() == (life == .closing), "\(life)")
            #expect(state.lifecycle == (life == .closing ? .lingering : life))
        }
        // A lingering socket is read whatever the protocol had stopped, and nothing reaches the protocol.
        let lingering = S(lifecycle: .lingering, gate: .suspendedAndHalted, read: .held)
        #expect(lingering.wantsRead(writable: false, queuedBytes: 1 << 30, marks: (10, 100)))
        #expect(!S(lifecycle: .lingering).mayFrame)
    }

    // MARK: - Input gate

    enum GateEvent: CaseIterable { case suspend, resume, halt, terminatorSet, handedOff }

    /// Every (gate, event) pair: the gate after, and for `resume` whether input must be processed now.
    static let gateTable: [(S.Gate, GateEvent, S.Gate, Bool)] = [
        (.open, .suspend, .suspended, false), (.open, .resume, .open, false), (.open, .halt, .halted, false),
        (.open, .terminatorSet, .open, false), (.open, .handedOff, .open, false),
        (.suspended, .suspend, .suspended, false), (.suspended, .resume, .open, true),
        (.suspended, .halt, .suspendedAndHalted, false), (.suspended, .terminatorSet, .suspended, false),
        (.suspended, .handedOff, .open, false),
        (.halted, .suspend, .suspendedAndHalted, false), (.halted, .resume, .halted, false),
        (.halted, .halt, .halted, false), (.halted, .terminatorSet, .open, false), (.halted, .handedOff, .open, false),
        (.suspendedAndHalted, .suspend, .suspendedAndHalted, false), (.suspendedAndHalted, .resume, .halted, true),
        (.suspendedAndHalted, .halt, .suspendedAndHalted, false),
        (.suspendedAndHalted, .terminatorSet, .suspended, false), (.suspendedAndHalted, .handedOff, .open, false),
    ]

    @Test("input gate: a suspension needs a resume, a framing error needs a terminator, a hand-off clears both")
    func gate() {
        #expect(Self.gateTable.count == S.Gate.allCases.count * GateEvent.allCases.count)
        for (from, event, to, process) in Self.gateTable {
            var state = S(lifecycle: .open, gate: from)
            var answer = false
            switch event {
            case .suspend: state.suspend()
            case .resume: answer = state.resume()
            case .halt: state.halt()
            case .terminatorSet: state.terminatorSet()
            case .handedOff: state.handedOff()
            }
            #expect(state.gate == to, "\(from) + \(event)")
            #expect(answer == process, "\(from) + \(event)")
            #expect(state.mayFrame == (to == .open), "\(from) + \(event)")
        }
        #expect(!S(lifecycle: .closed, gate: .open).mayFrame)
    }

    // MARK: - End of input

    @Test("end of input is told once, after the input before it, and only while input flows", arguments: [
        // (gate, life, end before, tells, end after)
        (S.Gate.open, S.Lifecycle.open, S.End.ended, true, S.End.delivered),
        (.open, .closing, .ended, true, .delivered),
        (.suspended, .open, .ended, false, .ended),
        (.halted, .open, .ended, false, .ended),
        (.suspendedAndHalted, .open, .ended, false, .ended),
        (.open, .closed, .ended, false, .ended),
        (.open, .open, .open, false, .open),
        (.open, .open, .delivered, false, .delivered),
    ])
    func endOfInput(gate: S.Gate, life: S.Lifecycle, before: S.End, tells: Bool, after: S.End) {
        var state = S(lifecycle: life, gate: gate, end: before)
        let answer1 = state.endToDeliver()
        #expect(answer1 == tells)
        #expect(state.end == after)
    }

    @Test("a half-close is remembered once; a second one changes nothing")
    func halfCloseOnce() {
        var state = S(lifecycle: .open)
        state.inputEnded()
        #expect(state.end == .ended)
        let answer2 = state.endToDeliver()
        #expect(answer2)
        state.inputEnded()
        #expect(state.end == .delivered)
        let answer3 = state.endToDeliver()
        #expect(!answer3)
    }

    // MARK: - Socket reads

    @Test("reads: held above the high-water mark, issued again only at the low-water mark", arguments: [
        // (read before, gate, writable, queued, passes the read, read after) with marks low 10, high 100
        (S.Read.passing, S.Gate.open, true, 50, true, S.Read.passing),
        (.passing, .open, true, 100, true, .passing),
        (.passing, .open, true, 101, false, .held),
        (.passing, .open, false, 0, false, .held),
        (.passing, .suspended, true, 0, false, .held),
        (.passing, .halted, true, 0, false, .held),
        (.held, .open, true, 50, false, .held),  // hysteresis: above the low mark stays held
        (.held, .open, true, 10, true, .held),  // passes; the held one is issued by heldReadToIssue
    ])
    func reads(before: S.Read, gate: S.Gate, writable: Bool, queued: Int, passes: Bool, after: S.Read) {
        var state = S(lifecycle: .open, gate: gate, read: before)
        let answer4 = state.readRequested(writable: writable, queuedBytes: queued, marks: (10, 100))
        #expect(answer4 == passes)
        #expect(state.read == after)
    }

    @Test("a held read is issued once, when reading is wanted again", arguments: [
        // (read before, gate, writable, queued, issues)
        (S.Read.held, S.Gate.open, true, 10, true),
        (.held, .open, true, 11, false),
        (.held, .open, false, 0, false),
        (.held, .suspended, true, 0, false),
        (.passing, .open, true, 0, false),
    ])
    func heldRead(before: S.Read, gate: S.Gate, writable: Bool, queued: Int, issues: Bool) {
        var state = S(lifecycle: .open, gate: gate, read: before)
        let answer5 = state.heldReadToIssue(writable: writable, queuedBytes: queued, marks: (10, 100))
        #expect(answer5 == issues)
        #expect(state.read == (issues ? .passing : before))
        let answer6 = state.heldReadToIssue(writable: writable, queuedBytes: queued, marks: (10, 100))
        #expect(!answer6)
        var closed = S(lifecycle: .closed, read: .held)
        let answer7 = closed.heldReadToIssue(writable: true, queuedBytes: 0, marks: (10, 100))
        #expect(!answer7)
    }

    // MARK: - Loops

    enum InputLoopEvent: CaseIterable { case schedule, scheduledFired, begin, end }

    /// Every (loop, event) pair: the loop after, and whether the channel must act (schedule a pass, run the
    /// loop now, or enter it).
    static let inputLoopTable: [(S.InputLoop, InputLoopEvent, S.InputLoop, Bool)] = [
        (.idle, .schedule, .scheduled, true), (.idle, .scheduledFired, .idle, false), (.idle, .begin, .running, true),
        (.idle, .end, .idle, false),
        (.scheduled, .schedule, .scheduled, false), (.scheduled, .scheduledFired, .idle, true),
        (.scheduled, .begin, .runningScheduled, true), (.scheduled, .end, .scheduled, false),
        (.running, .schedule, .runningScheduled, true), (.running, .scheduledFired, .running, false),
        (.running, .begin, .running, false), (.running, .end, .idle, false),
        (.runningScheduled, .schedule, .runningScheduled, false),
        (.runningScheduled, .scheduledFired, .running, false), (.runningScheduled, .begin, .runningScheduled, false),
        (.runningScheduled, .end, .scheduled, false),
    ]

    @Test("input loop: never entered twice, at most one pass scheduled, a pass that finds it running does nothing")
    func inputLoop() {
        #expect(Self.inputLoopTable.count == S.InputLoop.allCases.count * InputLoopEvent.allCases.count)
        for (from, event, to, acts) in Self.inputLoopTable {
            var state = S(lifecycle: .open, inputLoop: from)
            var answer = false
            switch event {
            case .schedule: answer = state.scheduleInput()
            case .scheduledFired: answer = state.scheduledInputFired()
            case .begin: answer = state.beginInput()
            case .end: state.endInput()
            }
            #expect(state.inputLoop == to, "\(from) + \(event)")
            #expect(answer == acts, "\(from) + \(event)")
        }
        var closed = S(lifecycle: .closed)
        let answer8 = closed.scheduleInput()
        #expect(!answer8)
        #expect(closed.inputLoop == .idle)
    }

    @Test("output loop: a drain asked for while draining runs one more pass, unless the channel closed", arguments: [
        // (loop before, life, begins, loop after begin, another pass, loop after the pass)
        (S.OutputLoop.idle, S.Lifecycle.open, true, S.OutputLoop.running, false, S.OutputLoop.idle),
        (.running, .open, false, .rerun, true, .running),
        (.rerun, .open, false, .rerun, true, .running),
        (.running, .closed, false, .rerun, false, .idle),
    ])
    func outputLoop(
        before: S.OutputLoop, life: S.Lifecycle, begins: Bool, afterBegin: S.OutputLoop, again: Bool,
        afterPass: S.OutputLoop
    ) {
        var state = S(lifecycle: life, outputLoop: before)
        let answer9 = state.beginDrain()
        #expect(answer9 == begins)
        #expect(state.outputLoop == afterBegin)
        let answer10 = state.drainPassDone()
        #expect(answer10 == again)
        #expect(state.outputLoop == afterPass)
    }

    // MARK: - Send timeout

    @Test("send timeout: closes only when the peer took nothing in a whole period")
    func sendWatch() {
        var watch = SendWatch()
        let answer11 = watch.arm(handed: 100, buffered: 0)
        #expect(!answer11, "nothing waits on the peer")
        #expect(watch.state == .off)
        let answer12 = watch.fired(handed: 100, buffered: 40)
        #expect(answer12 == .stop, "not armed")

        let answer13 = watch.arm(handed: 100, buffered: 40)
        #expect(answer13)
        #expect(watch.state == .watching(sentBefore: 60))
        let answer14 = watch.arm(handed: 200, buffered: 40)
        #expect(!answer14, "already watching")
        let answer15 = watch.fired(handed: 200, buffered: 40)
        #expect(answer15 == .rearm, "the peer took 100 bytes")
        #expect(watch.state == .watching(sentBefore: 160))
        let answer16 = watch.fired(handed: 200, buffered: 40)
        #expect(answer16 == .close, "not one byte in a period")
        #expect(watch.state == .off)

        let answer17 = watch.arm(handed: 10, buffered: 10)
        #expect(answer17)
        let answer18 = watch.fired(handed: 10, buffered: 0)
        #expect(answer18 == .stop, "the socket took everything")
        let answer19 = watch.arm(handed: 10, buffered: 5)
        #expect(answer19)
        watch.cancel()
        #expect(watch.state == .off)
        let answer20 = watch.fired(handed: 10, buffered: 5)
        #expect(answer20 == .stop)
    }
}
