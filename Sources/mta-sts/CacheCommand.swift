import ArgumentParser
import Foundation
import Logging
import MTASTSCore
import MTASTSDiscovery
import MTASTSResolverDaemon
import MTASTSRuntime

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect or change the resolver's policy store (also while the daemon runs).",
        discussion: """
            Works on the store named by --config or --cache (default sqlite:/var/lib/mta-sts/cache.sqlite; or \
            postgres://USER:PASSWORD@HOST:PORT/DATABASE). A running daemon (every daemon of a fleet sharing a \
            PostgreSQL store) picks up purges and refreshes within a minute.
            """,
        subcommands: [List.self, Show.self, Purge.self, Refresh.self]
    )

    /// Opens the configured store (connecting, for PostgreSQL), runs `body` on it and closes it.
    static func withStore<T>(_ source: ResolverSource, _ body: (any PolicyStore) async throws -> T) async throws -> T {
        let store = try await openStore(source)
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    static func openStore(_ source: ResolverSource) async throws -> any PolicyStore {
        let configuration = try source.load()
        return try await orExit { () async throws(ConfigurationError) in
            // `.tool` never answers nil (a memory cache is an error there).
            try await configuration.cache.open(for: .tool, logger: Logger(label: "mta-sts.cache"))!
        }
    }

    static func iso(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the cached policies.")
        @OptionGroup var source: ResolverSource
        @Flag(help: "One JSON object per line.") var json = false

        func run() async throws {
            let now = Date().timeIntervalSince1970
            let entries = try await CacheCommand.withStore(source) { try await $0.loadAll() }.sorted { $0.domain < $1.domain }
            for e in entries {
                if json {
                    try JSONOutput.print(CachedPolicyJSON(e, now: now))
                } else {
                    let state = e.isValid(at: now) ? "until \(CacheCommand.iso(e.expiresAt))" : "EXPIRED"
                    print("\(e.domain.value)\t\(e.policy.mode.rawValue)\tid \(e.id)\t\(state)\tmx \(e.policy.mx.map(\.description).joined(separator: " "))")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one cached policy, its times and its text. Exit 1 when not cached.")
        @OptionGroup var source: ResolverSource
        @Flag(help: "JSON output.") var json = false
        @Argument(help: "The domain.") var domain: String

        func run() async throws {
            let name: DomainName
            do { name = try DomainName(domain) } catch { throw ValidationError(error.description) }
            let found = try await CacheCommand.withStore(source) { store -> (CachedPolicy, StoredDANEStatus?)? in
                guard let e = try await store.load(name) else { return nil }
                let dane = try await (store as? any DANEStatusStore)?.loadDANEStatuses().first { $0.domain == name }
                return (e, dane)
            }
            guard let (e, dane) = found else {
                printError("\(name.value): not cached")
                throw Exit.invalid
            }
            let now = Date().timeIntervalSince1970
            var fields = CachedPolicyJSON(e, now: now)
            fields.dane = dane.map(CachedPolicyJSON.DANE.init)
            if json {
                fields.policy_text = String(decoding: e.body, as: UTF8.self)
                try JSONOutput.print(fields)
                return
            }
            for line in fields.textLines { print(line) }
            if let f = e.failedID, let at = e.failedAt { print("last_failure: id \(f) at \(CacheCommand.iso(at))") }
            if let dane { print("dane: \(dane.regime.rawValue) (checked \(CacheCommand.iso(dane.storedAt))): \(dane.reason)") }
            print("policy:")
            print(String(decoding: e.body, as: UTF8.self).split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
                .map { "  " + $0 }.joined(separator: "\n"))
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a domain's cached policy (the next mail fetches it anew).")
        @OptionGroup var source: ResolverSource
        @Argument(help: "The domain.") var domain: String

        func run() async throws {
            let name: DomainName
            do { name = try DomainName(domain) } catch { throw ValidationError(error.description) }
            try await CacheCommand.withStore(source) { store in
                guard try await store.load(name) != nil else {
                    printError("\(name.value): not cached")
                    throw Exit.invalid
                }
                try await store.delete(name)
            }
            print("\(name.value): purged")
        }
    }

    struct Refresh: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a domain's live policy now and store it (with the configuration's DNS and CA settings).",
            discussion: "Exit 0 when a valid policy is now cached, 1 when not (the reason is printed)."
        )
        @OptionGroup var source: ResolverSource
        @OptionGroup var network: NetworkFlags
        @Argument(help: "The domain.") var domain: String

        func run() async throws {
            let name: DomainName
            do { name = try DomainName(domain) } catch { throw ValidationError(error.description) }
            let network = self.network
            let configuration = try source.load { network.apply(to: &$0.network) }
            let store = try await CacheCommand.openStore(source)  // a clear error when the store is missing
            let stack: NetworkStack
            do { stack = try configuration.network.makeStack(dane: false) } catch {
                await store.close()
                printError("mta-sts: error: \(error)")
                throw Exit.ioError
            }
            // The resolver's cache engine on the same store, so the refresh follows the daemon's rules and logs.
            let logger = Logger(label: "mta-sts.cache")
            let cache = PolicyCache(discovery: stack.discovery, store: store, clock: SystemClock(), settings: configuration.cacheSettings,
                                    onEvent: { ResolverDaemon.log($0, logger) })
            do { try await cache.load() } catch {
                await store.close()
                printError("mta-sts: error: \(error)")
                throw Exit.ioError
            }
            let decision = await cache.refresh(name)
            await store.close()
            switch decision {
            case .policy(let e):
                print("\(name.value): \(e.policy.mode.rawValue), id \(e.id), valid until \(CacheCommand.iso(e.expiresAt))")
            case .none:
                printError("\(name.value): no valid policy could be fetched (see the log above)")
                throw Exit.invalid
            }
        }
    }
}
