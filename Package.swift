// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mta-sts",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mta-sts", targets: ["mta-sts"]),
        .library(name: "MTASTSCore", targets: ["MTASTSCore"]),
        .library(name: "MTASTSDiscovery", targets: ["MTASTSDiscovery"]),
        .library(name: "MTASTSUnbound", targets: ["MTASTSUnbound"]),
        .library(name: "MTASTSHTTPFetch", targets: ["MTASTSHTTPFetch"]),
        .library(name: "MTASTSStoreSQLite", targets: ["MTASTSStoreSQLite"]),
        // The fleet store on its own product: a library user who needs only SQLite does not build postgres-nio.
        .library(name: "MTASTSStorePostgres", targets: ["MTASTSStorePostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        // Already in the graph through swift-certificates and postgres-nio; named for the checker's TLSA matching.
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // libidn2 (Debian libidn2-dev): IDNA2008 / UTS #46 for U-label → A-label conversion.
        .systemLibrary(name: "CIDN2", path: "Sources/CIDN2"),
        // libunbound (Debian libunbound-dev): the one DNS path, with DNSSEC status.
        .systemLibrary(name: "CUnbound", path: "Sources/CUnbound"),
        // glibc's stub resolver (libresolv), for the DNSSEC trust-ad mode's AD-bit answers.
        .systemLibrary(name: "CResolv", path: "Sources/CResolv"),
        // zlib (Debian zlib1g-dev): inflating gzip TLS reports in chunks under a size cap.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // TLS-RPT (RFC 8460): the report model, the JSON parser and extraction from gzip/MIME/mbox. Pure: bytes in.
        .target(name: "MTASTSReports", dependencies: ["CZlib"]),
        // Pure values and RFC 8461 rules. No I/O, no clock reads.
        .target(name: "MTASTSCore", dependencies: ["CIDN2"]),
        // The RFC 8461 algorithms with injected I/O: DNSResolver, PolicyFetcher, record lookup, discovery.
        .target(name: "MTASTSDiscovery", dependencies: ["MTASTSCore"]),
        // DNSResolver on libunbound.
        .target(name: "MTASTSUnbound", dependencies: ["MTASTSDiscovery", "CUnbound"]),
        // DNSSEC modes; the AD-trusting stub resolver that asks the DANE-deciding questions in trust-ad mode.
        .target(name: "MTASTSStubDNS", dependencies: ["MTASTSDiscovery", "CResolv"]),
        // The one certificate judgement (swift-certificates: trust, expiry; the core's CertificateIdentity: the name)
        // and the one SAN reader, for the strict fetch, `mta-sts check` and `serve`.
        .target(
            name: "MTASTSCertificates",
            dependencies: ["MTASTSCore", .product(name: "X509", package: "swift-certificates"),
                           .product(name: "SwiftASN1", package: "swift-asn1")]
        ),
        // PolicyFetcher on SwiftNIO + NIOSSL (the strict RFC 8461 §3.3 fetch).
        .target(
            name: "MTASTSHTTPFetch",
            dependencies: [
                "MTASTSDiscovery", "MTASTSCertificates",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
        // PolicyStore on SQLite (GRDB, system libsqlite3): the default, embedded, crash-safe cache.
        .target(
            name: "MTASTSStoreSQLite",
            dependencies: ["MTASTSDiscovery", "MTASTSReports", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // PolicyStore on PostgreSQL (postgres-nio): one cache shared by a fleet of resolvers.
        .target(
            name: "MTASTSStorePostgres",
            dependencies: [
                "MTASTSDiscovery", "MTASTSReports", "MTASTSCertificateStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // ACME's account key and certificates per name (issue 12): the CertificateStore protocol and its directory store.
        .target(name: "MTASTSCertificateStore"),
        // Listening sockets (IPv6-only where IPv6) and the descriptor limit, for every role's listeners.
        .target(
            name: "ServerSockets",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // The Postfix socketmap protocol (netstrings) and server; knows nothing of MTA-STS.
        .target(
            name: "PostfixSocketmap",
            dependencies: ["ServerSockets", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // The composition root: network settings → the DNS/DNSSEC/HTTPS stack, store settings → the opened store,
        // and the one typed YAML reader every role's configuration uses.
        .target(
            name: "MTASTSRuntime",
            dependencies: [
                "MTASTSCore", "MTASTSDiscovery", "MTASTSUnbound", "MTASTSStubDNS", "MTASTSHTTPFetch", "MTASTSStoreSQLite",
                "MTASTSStorePostgres", "MTASTSReports",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                // SHA-256 of a rejected report input (ReportIngest): counted once however often it is delivered.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The operators' HTTP listener (/metrics, /healthz) and lock-free counters, shared by the long-running roles.
        .target(
            name: "MTASTSAdminHTTP",
            dependencies: ["ServerSockets", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        // `mta-sts serve`: the HTTPS policy host (per-Host policies rendered once, SNI certificates, proxy mode).
        .target(
            name: "MTASTSPolicyHost",
            dependencies: [
                "MTASTSCore", "MTASTSDiscovery", "MTASTSRuntime", "MTASTSAdminHTTP", "ServerSockets",
                "MTASTSCertificates", "MTASTSReports",
                // ACME (issue 12): the client, and the store of the account key and certificates.
                "MTASTSACME", "MTASTSCertificateStore", "MTASTSStorePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
        // `mta-sts resolver`: Postfix replies, zones, configuration, metrics, the daemon's services.
        .target(
            name: "MTASTSResolverDaemon",
            dependencies: [
                "MTASTSCore", "MTASTSDiscovery", "MTASTSRuntime", "MTASTSStubDNS", "PostfixSocketmap", "MTASTSAdminHTTP",
                "ServerSockets",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // `mta-sts check`: a deployment as a strict sender sees it (DNS, HTTPS, SMTP STARTTLS) → findings.
        .target(
            name: "MTASTSChecker",
            dependencies: [
                "MTASTSCore", "MTASTSDiscovery", "MTASTSHTTPFetch", "MTASTSCertificates",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                // TLSA matching (DANE): the SubjectPublicKeyInfo in DER, SHA2-256/512.
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The RFC 8555 ACME client (account, orders, challenges, finalize, revocation, ARI) and the tls-alpn-01
        // challenge certificate; its HTTPS transport on SwiftNIO + NIOSSL behind ACMETransport.
        .target(
            name: "MTASTSACME",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
        // The thin command-line front end.
        .executableTarget(
            name: "mta-sts",
            dependencies: [
                "MTASTSCore", "MTASTSDiscovery", "MTASTSUnbound", "MTASTSStubDNS", "MTASTSRuntime", "MTASTSResolverDaemon",
                "MTASTSChecker", "MTASTSPolicyHost", "MTASTSReports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `reports dashboard`: the admin listener, SIGINT/SIGTERM, and the stylesheet's hash for its CSP.
                "MTASTSAdminHTTP", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Shared by the test targets: running the mta-sts binary, starting the real-peer test world and PostgreSQL.
        .target(
            name: "TestSupport",
            dependencies: ["MTASTSStorePostgres", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        // Benchmarks (not tests): run in release builds by Benchmarks/*.sh; see BENCHMARKS.md.
        .executableTarget(
            name: "discovery-bench",
            dependencies: ["MTASTSCore", "MTASTSDiscovery", "MTASTSUnbound", "MTASTSHTTPFetch"],
            path: "Benchmarks/discovery-bench"
        ),
        .testTarget(name: "MTASTSCoreTests", dependencies: ["MTASTSCore"]),
        // The TLS-RPT parser against the real-world corpus (../shared/realworld/tlsrpt) and bad input.
        .testTarget(name: "ReportsTests", dependencies: ["MTASTSReports", "CZlib"]),
        .testTarget(name: "MTASTSDiscoveryTests", dependencies: ["MTASTSDiscovery", "MTASTSStubDNS", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["MTASTSStoreSQLite", "MTASTSReports", "TestSupport"]),
        // Against a real PostgreSQL (scripts/postgres.sh; MTASTS_POSTGRES_URL when scripts/test.sh started one).
        .testTarget(
            name: "PostgresStoreTests",
            dependencies: ["MTASTSStorePostgres", "MTASTSResolverDaemon", "MTASTSRuntime", "MTASTSReports", "TestSupport", "mta-sts",
                           .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "ResolverDaemonTests", dependencies: ["MTASTSResolverDaemon", "PostfixSocketmap", "TestSupport"]),
        .testTarget(
            name: "PostfixSocketmapTests",
            dependencies: ["PostfixSocketmap", .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOTestUtils", package: "swift-nio")]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["MTASTSDiscovery", "MTASTSUnbound", "MTASTSHTTPFetch", "MTASTSStoreSQLite", "TestSupport", "mta-sts"]
        ),
        .testTarget(name: "CLITests", dependencies: ["mta-sts", "TestSupport"]),
        // Pure finding rules with fakes, and `mta-sts check` against real NSD, nginx and Postfix peers.
        .testTarget(name: "CheckerTests", dependencies: ["MTASTSChecker", "TestSupport", "mta-sts"]),
        // The policy host: routing, rendering, configuration and proxy state with fakes and a manual clock.
        .testTarget(
            name: "PolicyHostTests",
            dependencies: ["MTASTSPolicyHost", "MTASTSCore", "MTASTSDiscovery", "MTASTSReports", "MTASTSRuntime",
                           "MTASTSCertificateStore", "TestSupport", .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        // The ACME client: pure pieces and a fake transport, then real issuance against Debian's pebble on loopback.
        .testTarget(
            name: "ACMETests",
            // MTASTSPolicyHost: pebble validating tls-alpn-01 against the policy host's own HTTPS listener.
            // mta-sts: `serve` with an acme: section as a real process, ordering from pebble by itself.
            dependencies: ["MTASTSACME", "TestSupport", "MTASTSPolicyHost", "mta-sts", .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // `mta-sts serve` as real processes on 127.0.4.x:443 against NSD and real clients (curl, openssl, our fetcher).
        .testTarget(
            name: "PolicyHostIntegrationTests",
            dependencies: ["MTASTSCore", "MTASTSDiscovery", "MTASTSUnbound", "MTASTSHTTPFetch", "TestSupport", "mta-sts", "MTASTSPolicyHost",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")]
        ),
    ]
)
