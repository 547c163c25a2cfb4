/// Where a ``ChatChannel`` is, as values with no I/O: its life, whether its input flows, whether the end of input
/// has been told, whether a socket read is held back, and the two loops' re-entrancy. Each event is a mutating
/// transition that answers what the channel must do; ``ChatChannel`` carries that out on the socket and the
/// protocol. The pieces are orthogonal, so each is its own small enum and the tests walk every (state, event)
/// pair of each.
struct ChatChannelState {
    /// A channel in the given state (tests start machines anywhere; a channel starts with the defaults).
    init(
        lifecycle: Lifecycle = .new, gate: Gate = .open, end: End = .open, read: Read = .passing,
        inputLoop: InputLoop = .idle, outputLoop: OutputLoop = .idle
    ) {
        self.lifecycle = lifecycle
        self.gate = gate
        self.end = end
        self.read = read
        self.inputLoop = inputLoop
        self.outputLoop = outputLoop
    }

    // MARK: - Life

    /// The connection's life.
    enum Lifecycle: Equatable, CaseIterable {
        /// Made, not yet active: the protocol has not been told ``ChatProtocol/channelOpened(_:)``.
        case new
        /// Active: output is accepted.
        case open
        /// ``ChatChannel/closeWhenDone()`` was called (or a producer aborted): queued output still goes out,
        /// new output is ignored, then the socket closes.
        case closing
        /// Output is done and the sending side shut down (a FIN went out); what the peer still sends is read
        /// and dropped until it closes its side or ``ChatConfiguration/lingerTimeout`` runs out (RFC 9112 §9.6).
        /// The protocol hears nothing more but the close.
        case lingering
        /// The socket is closed; the protocol has been told.
        case closed
    }

    private(set) var lifecycle = Lifecycle.new

    /// Becoming active. Returns whether the protocol must be told it opened (once only).
    mutating func activated() -> Bool {
        guard lifecycle == .new else { return false }
        lifecycle = .open
        return true
    }

    /// ``ChatChannel/closeWhenDone()``. Returns whether to queue the close marker (once only).
    mutating func closeRequested() -> Bool {
        guard acceptsOutput else { return false }
        lifecycle = .closing
        return true
    }

    /// The sending side was shut down after the last output. Returns whether to linger (it was closing).
    mutating func lingerStarted() -> Bool {
        guard lifecycle == .closing else { return false }
        lifecycle = .lingering
        return true
    }

    /// The socket closed. Returns whether the protocol must be told (once only).
    mutating func inactive() -> Bool {
        guard lifecycle != .closed else { return false }
        lifecycle = .closed
        return true
    }

    /// Whether new output (a push, a producer, a hand-off) is taken.
    var acceptsOutput: Bool { lifecycle == .new || lifecycle == .open }

    /// Whether the connection still serves its protocol: open, or closing after queued output.
    var isActive: Bool { lifecycle == .new || lifecycle == .open || lifecycle == .closing }

    /// Whether the socket is still open (a lingering one is).
    var isOpen: Bool { lifecycle != .closed }

    // MARK: - Input gate

    /// Whether framed input may be handed to the protocol.
    enum Gate: Equatable, CaseIterable {
        /// Input flows.
        case open
        /// The protocol called ``ChatChannel/suspendInput()``.
        case suspended
        /// Framing failed; it stays stopped until the protocol sets a terminator.
        case halted
        /// Both: it takes a ``ChatChannel/resumeInput()`` and a terminator.
        case suspendedAndHalted
    }

    private(set) var gate = Gate.open

    /// ``ChatChannel/suspendInput()``.
    mutating func suspend() {
        gate = (gate == .halted || gate == .suspendedAndHalted) ? .suspendedAndHalted : .suspended
    }

    /// ``ChatChannel/resumeInput()``. Returns whether input must be processed now (it was suspended).
    mutating func resume() -> Bool {
        switch gate {
        case .suspended: gate = .open
        case .suspendedAndHalted: gate = .halted
        case .open, .halted: return false
        }
        return true
    }

    /// Framing failed.
    mutating func halt() {
        gate = (gate == .suspended || gate == .suspendedAndHalted) ? .suspendedAndHalted : .halted
    }

    /// A terminator was set: framing may go on (a suspension stays).
    mutating func terminatorSet() {
        gate = (gate == .suspended || gate == .suspendedAndHalted) ? .suspended : .open
    }

    /// A hand-off: the new protocol starts with input flowing, whatever the old one had stopped.
    mutating func handedOff() {
        gate = .open
    }

    /// Whether the framer may be asked for the next event.
    var mayFrame: Bool { gate == .open && isActive }

    // MARK: - End of input

    /// Whether the peer's end of input (a half-close) has been seen and told.
    enum End: Equatable, CaseIterable {
        /// The peer may still send.
        case open
        /// The peer half-closed; the protocol has not been told yet (input before the end comes first).
        case ended
        /// The protocol has been told.
        case delivered
    }

    private(set) var end = End.open

    /// The peer half-closed.
    mutating func inputEnded() {
        if end == .open { end = .ended }
    }

    /// After the framer has nothing more: returns whether to tell the protocol the input ended (once only, and
    /// only while input flows, so a suspended protocol hears of it when it resumes).
    mutating func endToDeliver() -> Bool {
        guard end == .ended, mayFrame else { return false }
        end = .delivered
        return true
    }

    // MARK: - Socket reads

    /// Whether NIO asked to read and the channel held the read back.
    enum Read: Equatable, CaseIterable {
        /// No read is held back.
        case passing
        /// A read is held back, to be issued once reading is wanted again.
        case held
    }

    private(set) var read = Read.passing

    /// Whether the socket should be read, for the queued output and writability given. Reading stops above the
    /// high-water mark and, once stopped, resumes only at the low-water mark (hysteresis).
    func wantsRead(writable: Bool, queuedBytes: Int, marks: (low: Int, high: Int)) -> Bool {
        if lifecycle == .lingering { return true }  // read and dropped, whatever the protocol had stopped
        guard gate == .open, isActive else { return false }
        return writable && queuedBytes <= (read == .held ? marks.low : marks.high)
    }

    /// NIO asks to read. Returns whether to pass the read on; otherwise it is held.
    mutating func readRequested(writable: Bool, queuedBytes: Int, marks: (low: Int, high: Int)) -> Bool {
        if wantsRead(writable: writable, queuedBytes: queuedBytes, marks: marks) { return true }
        read = .held
        return false
    }

    /// After input or output moved. Returns whether to issue the held read now.
    mutating func heldReadToIssue(writable: Bool, queuedBytes: Int, marks: (low: Int, high: Int)) -> Bool {
        guard read == .held, wantsRead(writable: writable, queuedBytes: queuedBytes, marks: marks) else { return false }
        read = .passing
        return true
    }

    // MARK: - Loops

    /// The input loop: protocols call back into the channel from inside it, so a second entry is refused, and
    /// a pass may be scheduled for the next turn of the event loop.
    enum InputLoop: Equatable, CaseIterable {
        case idle
        /// A pass is scheduled on the event loop.
        case scheduled
        case running
        /// Running, with a pass scheduled as well.
        case runningScheduled
    }

    private(set) var inputLoop = InputLoop.idle

    /// Whether the input loop is running now (a callback is on the stack).
    var isDispatching: Bool { inputLoop == .running || inputLoop == .runningScheduled }

    /// Returns whether to schedule a pass (none is scheduled yet, and the channel is not closed).
    mutating func scheduleInput() -> Bool {
        guard isActive else { return false }
        switch inputLoop {
        case .idle: inputLoop = .scheduled
        case .running: inputLoop = .runningScheduled
        case .scheduled, .runningScheduled: return false
        }
        return true
    }

    /// The scheduled pass came. Returns whether to run the loop now (it is not running already).
    mutating func scheduledInputFired() -> Bool {
        switch inputLoop {
        case .scheduled: inputLoop = .idle; return true
        case .runningScheduled: inputLoop = .running; return false
        case .idle, .running: return false
        }
    }

    /// Entering the input loop. Returns false when it is already running (the running pass goes on).
    mutating func beginInput() -> Bool {
        switch inputLoop {
        case .idle: inputLoop = .running
        case .scheduled: inputLoop = .runningScheduled
        case .running, .runningScheduled: return false
        }
        return true
    }

    /// Leaving the input loop.
    mutating func endInput() {
        switch inputLoop {
        case .running: inputLoop = .idle
        case .runningScheduled: inputLoop = .scheduled
        case .idle, .scheduled: break
        }
    }

    /// The output loop: writing makes NIO report writability synchronously, which asks for another drain from
    /// inside the running one; that request is remembered and served by another pass, never dropped.
    enum OutputLoop: Equatable, CaseIterable {
        case idle
        case running
        /// Running, and asked again while running: one more pass follows.
        case rerun
    }

    private(set) var outputLoop = OutputLoop.idle

    /// Whether the output loop is running now.
    var isDraining: Bool { outputLoop != .idle }

    /// Entering the output loop. Returns false when it is already running (it will run one more pass).
    mutating func beginDrain() -> Bool {
        switch outputLoop {
        case .idle: outputLoop = .running; return true
        case .running, .rerun: outputLoop = .rerun; return false
        }
    }

    /// A pass is done. Returns whether to run another (it was asked for meanwhile and the channel is open).
    mutating func drainPassDone() -> Bool {
        if outputLoop == .rerun && isActive {
            outputLoop = .running
            return true
        }
        outputLoop = .idle
        return false
    }
}

/// The send timeout (nginx's `send_timeout`) as values: armed when output waits on the peer, and when it fires it
/// closes only if the peer took not one byte in the whole period.
struct SendWatch: Equatable {
    /// Whether the watch runs, and how many bytes the peer had taken when it was armed.
    enum State: Equatable {
        case off
        case watching(sentBefore: Int)
    }

    private(set) var state = State.off

    /// What to do when the watch fires.
    enum Verdict: Equatable {
        /// Nothing waits on the peer any more: the watch is off.
        case stop
        /// The peer took nothing in a whole period: close.
        case close
        /// The peer took some: watch another period.
        case rearm
    }

    /// Output waits. `handed` counts bytes written to the channel, `buffered` those the socket has not taken.
    /// Returns whether to schedule a check one period from now (the watch was off and bytes wait).
    mutating func arm(handed: Int, buffered: Int) -> Bool {
        guard state == .off, buffered > 0 else { return false }
        state = .watching(sentBefore: handed - buffered)
        return true
    }

    /// The period ended.
    mutating func fired(handed: Int, buffered: Int) -> Verdict {
        guard case .watching(let before) = state else { return .stop }
        state = .off
        guard buffered > 0 else { return .stop }
        if handed - buffered == before { return .close }
        state = .watching(sentBefore: handed - buffered)
        return .rearm
    }

    /// The connection closed.
    mutating func cancel() {
        state = .off
    }
}
