import NIOConcurrencyHelpers

/// A fixed number of slots for one kind of expensive work done for requests (planning and sending folder
/// archives, listing folders, compressing files on the fly, storing uploads), so that many requests at once,
/// or many abandoned ones, cannot take every thread and all the memory: ``take()`` gives a ``Slot`` while
/// fewer than ``capacity`` are out, else nil (the caller answers 503 with `Retry-After`, or does the cheaper
/// thing). A slot is given back when the last reference to it goes, so whatever holds the work (a task, a
/// response body's producer) gives it back however it ends: finished, failed, cancelled or dropped unsent.
final class WorkSlots: Sendable {
    /// A slot taken; given back on `deinit`.
    final class Slot: Sendable {
        private let slots: WorkSlots

        fileprivate init(_ slots: WorkSlots) { self.slots = slots }

        deinit { slots.taken.withLockedValue { $0 -= 1 } }
    }

    /// The most slots out at once.
    let capacity: Int
    private let taken = NIOLockedValueBox(0)

    /// Slots for at most `capacity` pieces of work at once (at least one).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// A slot, or nil when ``capacity`` are out.
    func take() -> Slot? {
        let granted = taken.withLockedValue { n -> Bool in
            guard n < capacity else { return false }
            n += 1
            return true
        }
        return granted ? Slot(self) : nil
    }

    /// How many slots are out now.
    var inUse: Int { taken.withLockedValue { $0 } }
}
