import NIOConcurrencyHelpers

/// One at a time, in arrival order, for async work: a WebSocket's sends (a send waiting for the client must not
/// let a later one overtake it: with permessage-deflate the frames must reach the wire in the order they were
/// compressed) and an event stream's writes (an event goes out whole, a heartbeat only on an idle stream).
final class AsyncTurns: Sendable {
    private let state = NIOLockedValueBox<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    /// Runs `body` in its turn: at once (without suspending) when no turn is under way, else after the turns
    /// before it.
    nonisolated(nonsending) func run<T: Sendable>(_ body: nonisolated(nonsending) @Sendable () async throws -> T) async rethrows -> T {
        if !take(when: { true }) { await waitInLine() }
        defer { pass() }
        return try await body()
    }

    /// Runs `body` only when no turn is under way and `condition` holds (checked as the turn is taken, so no
    /// turn can start in between); nil, without running it, otherwise.
    func runIfFree<T: Sendable>(when condition: () -> Bool, _ body: @Sendable () async throws -> T) async rethrows -> T? {
        guard take(when: condition) else { return nil }
        defer { pass() }
        return try await body()
    }

    private func take(when condition: () -> Bool) -> Bool {
        state.withLockedValue { state in
            guard !state.busy, condition() else { return false }
            state.busy = true
            return true
        }
    }

    private nonisolated(nonsending) func waitInLine() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLockedValue { state -> Bool in
                if state.busy {
                    state.waiting.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if now { continuation.resume() }
        }
    }

    /// Ends a turn: the next waiting one goes (the line stays busy), or the line is free.
    private func pass() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
