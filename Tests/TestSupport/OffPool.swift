import Foundation

/// Runs blocking work (polling, waiting for processes, many sockets) on a thread of its own. On the
/// cooperative pool it would hold one of its few threads and starve other suites' async tasks; on
/// Dispatch's global queues (a few threads on Linux) it could starve Foundation's `Process`, which needs
/// them to see its child exit (the self-started testbed then never finished starting).
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
