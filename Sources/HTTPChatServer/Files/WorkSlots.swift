import CSpawn
import NIOConcurrencyHelpers
import NIOPosix

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

        deinit {
            let idle = slots.taken.withLockedValue { n -> Bool in
                n -= 1
                return n == 0
            }
            if idle, slots.returnsMemoryWhenIdle { WorkSlots.returnFreedMemory() }
        }
    }

    /// The most slots out at once.
    let capacity: Int
    /// Whether the last slot given back hands the memory the work freed back to the system.
    let returnsMemoryWhenIdle: Bool
    private let taken = NIOLockedValueBox(0)

    /// Slots for at most `capacity` pieces of work at once (at least one).
    ///
    /// - Parameters:
    ///   - capacity: the most at once.
    ///   - returnsMemoryWhenIdle: when the last slot out is given back, ask the allocator to return freed
    ///     memory to the system (``returnFreedMemory()``): for work that allocates much in small pieces (an
    ///     archive's plan), which glibc otherwise keeps in its arenas for good.
    init(capacity: Int, returnsMemoryWhenIdle: Bool = false) {
        self.capacity = max(1, capacity)
        self.returnsMemoryWhenIdle = returnsMemoryWhenIdle
    }

    /// Asks the allocator, on NIO's thread pool, to give the system back the pages no allocation uses
    /// (glibc's `malloc_trim`, which walks every arena; elsewhere nothing; the C shim lives in `CSpawn`). Freed memory stays in glibc's
    /// per-thread arenas otherwise, where a plan of 100,000 entries in small pieces keeps about 20 MiB resident.
    static func returnFreedMemory() {
        NIOThreadPool.singleton.submit { state in
            guard case .active = state else { return }
            httpchat_return_freed_memory()
        }
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
