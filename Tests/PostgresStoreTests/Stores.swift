import MTASTSStorePostgres

/// Runs `body` with stores opened on `url`, closing every one afterwards (also when `body` throws).
func withStores<T>(_ url: String, count: Int = 1, _ body: ([PostgresPolicyStore]) async throws -> T) async throws -> T {
    let stores = try (0..<count).map { _ in try PostgresPolicyStore(url: url) }
    do {
        let result = try await body(stores)
        for s in stores { await s.close() }
        return result
    } catch {
        for s in stores { await s.close() }
        throw error
    }
}
