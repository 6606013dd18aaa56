import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A store's connection pool: started in a task the store owns (no server contact until the first lease), leased
/// with a bound on the wait, errors in words. Shared by ``PostgresPolicyStore`` and ``PostgresReportStore``.
final class PostgresConnections: Sendable {
    let configuration: PostgresStoreConfiguration
    let logger: Logger
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    /// Ends once the pool's task has begun (leasing before that works, but postgres-nio warns).
    private let runStarted: Task<Void, Never>

    /// - Parameters:
    ///   - extraOptions: appended to the `options` startup parameter (session settings).
    ///   - logger: where the pool logs (connection failures at `info`); nil: nowhere.
    init(configuration: PostgresStoreConfiguration, extraOptions: String = "", logger: Logger?) throws {
        self.configuration = configuration
        let logger = logger ?? Logger(label: "mta-sts.store.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        self.logger = logger
        let client = PostgresClient(configuration: try configuration.clientConfiguration(extraOptions: extraOptions),
                                    backgroundLogger: logger)
        self.client = client
        // Detached: the pool's life is the store's, not that of whichever task happened to create the store.
        let (started, signal) = AsyncStream<Void>.makeStream()
        runTask = Task.detached {
            signal.finish()
            await client.run()
        }
        runStarted = Task { for await _ in started {} }
    }

    deinit { runTask.cancel() }

    /// Stops the pool and waits for it; leases after it fail.
    func shutdown() async {
        runTask.cancel()
        await runTask.value
    }

    /// Leases a connection for `body`, waiting at most `connect_timeout` for it; past that, fails with the reason
    /// a fresh connection attempt gives (the pool itself would keep a caller waiting up to a minute).
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        await runStarted.value
        let leased = Flag()
        let timeout = configuration.connectTimeout
        let result: T?
        do {
            result = try await withThrowingTaskGroup(of: T?.self) { [client] group in
                group.addTask {
                    try await client.withConnection { connection in
                        leased.set()
                        return try await body(connection)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    // Connected: the query may take its time; this child ends when the group is cancelled.
                    while leased.isSet { try await Task.sleep(for: .seconds(3600)) }
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            throw PostgresPolicyStore.StoreError(description: "PostgreSQL at \(configuration.endpoint): \(Self.describe(error))")
        }
        guard let result else {
            let reason = await diagnose()
            throw PostgresPolicyStore.StoreError(
                description: "PostgreSQL at \(configuration.endpoint): no connection within \(timeout): \(reason)")
        }
        return result
    }

    /// Runs a statement to its end (rows, if any, are read and dropped).
    static func execute(_ connection: PostgresConnection, _ logger: Logger, _ query: PostgresQuery) async throws {
        for try await _ in try await connection.query(query, logger: logger) {}
    }

    /// Why the pool cannot connect: one direct attempt, its error in words.
    private func diagnose() async -> String {
        do {
            let connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.next(), configuration: try configuration.connectionConfiguration(),
                id: 0, logger: logger).get()
            try? await connection.close()
            return "the server accepts connections now (all busy, or it just came up)"
        } catch {
            return Self.describe(error)
        }
    }

    /// An error in words: the server's message and SQLSTATE, or the connection failure. (PSQLError's own
    /// description is deliberately generic.)
    static func describe(_ error: any Error) -> String {
        if let e = error as? PostgresPolicyStore.StoreError { return e.description }
        if let e = error as? PSQLError {
            if let info = e.serverInfo, let message = info[.message] {
                return message + (info[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = e.underlying { return "\(e.code): \(describe(underlying))" }
            return "\(e.code)"
        }
        return String(describing: error)
    }
}

/// Set once a connection is leased.
private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
