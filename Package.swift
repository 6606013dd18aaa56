// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mta-sts",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mta-sts", targets: ["mta-sts"]),
        .library(name: "MTASTSCore", targets: ["MTASTSCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        // libidn2 (Debian libidn2-dev): IDNA2008 / UTS #46 for U-label → A-label conversion.
        .systemLibrary(name: "CIDN2", path: "Sources/CIDN2"),
        // Pure values and RFC 8461 rules. No I/O, no clock reads.
        .target(name: "MTASTSCore", dependencies: ["CIDN2"]),
        // The thin command-line front end.
        .executableTarget(
            name: "mta-sts",
            dependencies: [
                "MTASTSCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "MTASTSCoreTests", dependencies: ["MTASTSCore"]),
        .testTarget(name: "CLITests", dependencies: ["mta-sts"]),
    ]
)
