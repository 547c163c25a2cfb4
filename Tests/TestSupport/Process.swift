#if canImport(Foundation)
public import Foundation

/// Runs a program to completion and returns its standard output (for live tests with real clients).
///
/// - Parameters:
///   - path: the program.
///   - arguments: its arguments.
/// - Returns: what it printed.
/// - Throws: when it cannot start.
public func runProcess(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try startUnblocked(process)
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Starts `process` with no signal blocked. A child inherits the spawning thread's signal mask, and
/// Dispatch's worker threads (where ``blocking(_:)`` runs) block most signals, SIGCHLD among them: a shell
/// started with it blocked hangs forever in `wait`, its children left as zombies.
///
/// - Parameter process: the process to start.
/// - Throws: what `Process.run()` throws.
public func startUnblocked(_ process: Process) throws {
    var none = sigset_t()
    var saved = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &saved)
    defer { _ = pthread_sigmask(SIG_SETMASK, &saved, nil) }
    try process.run()
}

/// How many ``blocking(_:)`` calls run at once.
private let blockingSlots = DispatchSemaphore(value: 12)

/// Runs a blocking call (a socket read, say) on a thread of its own, so it never holds one of the few threads
/// of Swift's cooperative pool that the server under test needs too.
///
/// - Parameter body: the blocking work.
/// - Returns: what it returned.
/// - Throws: what it threw.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    // A thread of its own, not Dispatch's global queue: on Linux that queue is a pool sized to the cores, which
    // grows only slowly past threads blocked in a read or a wait; with the suite's many live tests blocked at
    // once, a short read queued behind them for over a minute (a keep-alive connection idled out meanwhile).
    // At most `blockingSlots` run at once: unbounded, every live test's clients ran together on the two cores
    // and starved the in-process tests' wall-clock waits instead.
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            blockingSlots.wait()
            defer { blockingSlots.signal() }
            continuation.resume(with: Result { try body() })
        }.start()
    }
}
#endif
