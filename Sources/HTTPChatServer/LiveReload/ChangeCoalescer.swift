/// Gathers the paths a burst of file-system events names into one batch (pure: time is a parameter).
///
/// An editor's save is several events (a temporary file written and renamed, `IN_MODIFY` then
/// `IN_CLOSE_WRITE`, an attribute change), and a build writes many files at once: one reload should follow,
/// after the burst. A batch is due once no event came for ``quiet``, or ``longest`` after its first event
/// while events keep coming (a long build still shows progress). Each path is in a batch once, in the order
/// first seen.
package struct ChangeCoalescer: Sendable {
    /// How long without events ends a burst.
    package let quiet: Duration
    /// The most a batch waits after its first event.
    package let longest: Duration
    private var paths: [String] = []
    private var seen: Set<String> = []
    private var first: ContinuousClock.Instant?
    private var last: ContinuousClock.Instant?

    /// A coalescer.
    ///
    /// - Parameters:
    ///   - quiet: how long without events ends a burst (default 100 ms).
    ///   - longest: the most a batch waits after its first event (default 1 s).
    package init(quiet: Duration = .milliseconds(100), longest: Duration = .seconds(1)) {
        self.quiet = quiet
        self.longest = longest
    }

    /// Whether a batch is being gathered.
    package var isPending: Bool { first != nil }

    /// Adds a changed path, seen at `now`.
    package mutating func add(_ path: String, now: ContinuousClock.Instant) {
        if first == nil { first = now }
        last = now
        if seen.insert(path).inserted { paths.append(path) }
    }

    /// When the batch being gathered is due; nil when there is none.
    package var deadline: ContinuousClock.Instant? {
        guard let first, let last else { return nil }
        return min(last + quiet, first + longest)
    }

    /// The batch, when it is due at `now` (and a new one starts); nil otherwise.
    package mutating func flush(now: ContinuousClock.Instant) -> [String]? {
        guard let deadline, now >= deadline else { return nil }
        defer {
            paths = []
            seen = []
            first = nil
            last = nil
        }
        return paths
    }
}
