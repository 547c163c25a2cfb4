import HTTPChatTesting

extension InProcessConnection {
    /// Waits, at most `timeout`, for the server to close the connection, running the channel's loop meanwhile
    /// (its output stays buffered for ``InProcessConnection/readResponse(head:timeout:)``).
    ///
    /// - Parameter timeout: how long to wait.
    /// - Returns: whether the connection closed in time.
    func closes(within timeout: Duration = .seconds(2)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isOpen {
            if ContinuousClock.now >= deadline { return false }
            _ = try await pendingOutput()
            try await Task.sleep(for: .milliseconds(1))
        }
        return true
    }
}
