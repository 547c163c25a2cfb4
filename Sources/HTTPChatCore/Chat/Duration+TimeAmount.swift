package import NIOCore

// The public API measures time in Swift's `Duration`; NIO's event loops count in `TimeAmount`. This file is
// the one place one becomes the other (NIO's `TimeAmount(_:)`: whole nanoseconds, clamped to `Int64`), so
// the code that arms a timer from a setting reads the same as before: `since + limits.idleTimeout`,
// `loop.scheduleTask(in: configuration.sendTimeout)`.

extension NIODeadline {
    /// The deadline `duration` after `deadline`.
    package static func + (deadline: NIODeadline, duration: Duration) -> NIODeadline {
        deadline + TimeAmount(duration)
    }
}

extension NIOIsolatedEventLoop {
    /// Runs `task` on this loop once `delay` has passed.
    package func scheduleTask<T>(in delay: Duration, _ task: @escaping () throws -> T) -> Scheduled<T> {
        scheduleTask(in: TimeAmount(delay), task)
    }
}
