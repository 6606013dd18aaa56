// swift-tools-version:6.0
// Benchmarks live in their own package so that CI never builds them and they are always built in release
// mode against the package in the parent directory. See Benchmarks/README.md and BENCHMARKS.md.
import PackageDescription

let package = Package(
    name: "mta-sts-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "mta-sts", path: "..")],
    targets: [
        .executableTarget(
            name: "discovery-bench",
            dependencies: [
                .product(name: "MTASTSDiscovery", package: "mta-sts"),
                .product(name: "MTASTSUnbound", package: "mta-sts"),
                .product(name: "MTASTSHTTPFetch", package: "mta-sts"),
            ]
        )
    ]
)
