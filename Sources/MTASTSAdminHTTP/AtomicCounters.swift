import Synchronization

/// A fixed number of counters, each its own atomic (no lock on the hot path), addressed by index.
/// Callers name the indexes with an enum (`Counter.hit.rawValue`) or a computed position.
public final class AtomicCounters: @unchecked Sendable {
    // @unchecked: the buffer is allocated once, only ever accessed through the atomics, and freed in deinit.
    private let storage: UnsafeMutablePointer<Atomic<Int>>
    public let count: Int

    public init(count: Int) {
        precondition(count > 0)
        self.count = count
        storage = .allocate(capacity: count)
        for i in 0..<count { (storage + i).initialize(to: Atomic(0)) }
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    /// Adds `amount` to counter `index`.
    public func add(_ index: Int, _ amount: Int = 1) {
        precondition(index >= 0 && index < count)
        storage[index].wrappingAdd(amount, ordering: .relaxed)
    }

    public func value(_ index: Int) -> Int {
        precondition(index >= 0 && index < count)
        return storage[index].load(ordering: .relaxed)
    }
}
