import Synchronization

/// What a streaming load (a store's `loadAll(batchSize:_:)`) handed over: the size of each batch, and every item.
public func collectBatches<T: Sendable>(of load: (@escaping @Sendable ([T]) -> Void) async throws -> Void) async throws
    -> (sizes: [Int], items: [T]) {
    let seen = Mutex<(sizes: [Int], items: [T])>(([], []))
    try await load { batch in seen.withLock { $0.sizes.append(batch.count); $0.items += batch } }
    return seen.withLock { $0 }
}
