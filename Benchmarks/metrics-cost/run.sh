#!/usr/bin/env bash
# What swift-metrics + swift-prometheus would cost on the resolver's hit path, against our AtomicCounters (issue 15
# item 5; the figures and the decision: docs/architecture.md item 3).
#
#   Benchmarks/metrics-cost/run.sh [WORKDIR] [ITERATIONS]     (default /tmp/mta-sts-metrics-cost, 10000000)
#
# Builds a standalone release package in WORKDIR (not part of the main package): main.swift from here, and
# Sources/MTASTSAdminHTTP/AtomicCounters.swift copied as it is into a module of its own (the daemon calls it across
# modules too), against swift-prometheus 2.4.1 and swift-metrics 2.13.0 (the package mirror serves both). Prints the
# thread CPU time per simulated hit (two increments) for each variant, 1 and 2 threads, medians of 5 rounds, and
# the wall time of building the Prometheus module alone (what the main package's build would add).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
WORK=${1:-/tmp/mta-sts-metrics-cost}
N=${2:-10000000}
mkdir -p "$WORK/Sources/MetricsBench" "$WORK/Sources/OurCounters"
cp "$HERE/main.swift" "$WORK/Sources/MetricsBench/main.swift"
cp "$ROOT/Sources/MTASTSAdminHTTP/AtomicCounters.swift" "$WORK/Sources/OurCounters/"
cat > "$WORK/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "metricsbench",
    dependencies: [
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
    ],
    targets: [
        .target(name: "OurCounters"),
        .executableTarget(name: "MetricsBench", dependencies: [
            "OurCounters",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
    ]
)
SWIFT
cd "$WORK"
for t in Atomics CoreMetrics Metrics OurCounters; do nice -n 5 swift build -c release --target "$t" > /dev/null; done
start=$(date +%s.%N)
nice -n 5 swift build -c release --target Prometheus > /dev/null
echo "Prometheus module, release build: $(echo "$(date +%s.%N) - $start" | bc) s wall (load $(cut -d' ' -f1-3 /proc/loadavg))"
nice -n 5 swift build -c release > /dev/null
nice -n 5 .build/release/MetricsBench "$N"
