import Foundation

/// Polls `condition` every 10 ms until it holds or `seconds` pass; true once it holds. For background work
/// (refreshes, write-through) whose end a test cannot await: a fixed sleep fails on a loaded CI machine,
/// this waits only as long as needed and still fails when the work never happens.
public func eventually(within seconds: Double = 10, _ condition: () async throws -> Bool) async -> Bool {
    let end = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
    while ContinuousClock.now < end {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return (try? await condition()) == true
}

/// ``eventually(within:_:)`` for blocking code already on a thread of its own (``offPool(_:)``): polls every 50 ms.
public func waitUntil(within seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
    while ContinuousClock.now < end {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}
