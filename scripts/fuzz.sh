#!/usr/bin/env bash
# Fuzz the MTASTSCore parsers, the policy host's request-head scanner, the line query's MX filter (mx_re against
# RFC 8461 §4.1 matching), the TLS-RPT report parser and the ACME client's reading of server responses with
# libFuzzer. See Fuzz/README.md.
#
# usage: scripts/fuzz.sh [record|policy|request|line|reports|acme|all] [SECONDS]      (default: all, 60 seconds per target)
#
# For each target: build the harness with swiftc -sanitize=fuzzer,address -O -wmo (the parser's sources +
# harness in one module, optimized as a whole, no SwiftPM), replay every input in Fuzz/regressions/<target>/, then fuzz for SECONDS starting
# from the unit-test vectors (and Fuzz/seeds/<target>/) as seeds. Everything goes to .build/fuzz/. Exits non-zero on any crash.
#
# Environment: SWIFTC (default: swiftc on PATH, else /opt/swift/usr/bin/swiftc),
#              FUZZ_FLAGS (extra libFuzzer flags for the fuzzing run, e.g. "-max_len=8192").
set -euo pipefail

usage() {
    echo "usage: $0 [record|policy|request|line|reports|acme|all] [SECONDS]" >&2
    exit 2
}

target=${1:-all}
seconds=${2:-60}
case $target in
    record | policy | request | line | reports | acme) targets=("$target") ;;
    all) targets=(record policy request line reports acme) ;;
    *) usage ;;
esac
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
[[ $# -le 2 ]] || usage

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n ${SWIFTC:-} ]]; then
    swiftc=$SWIFTC
elif command -v swiftc >/dev/null 2>&1; then
    swiftc=$(command -v swiftc)
else
    swiftc=/opt/swift/usr/bin/swiftc
fi
[[ -x $swiftc ]] || { echo "fuzz: no swiftc (set SWIFTC)" >&2; exit 1; }

# Without this, Swift's crash backtracer runs under ASan and hides the real crash behind a bogus report.
export SWIFT_BACKTRACE=enable=no

out=.build/fuzz
mkdir -p "$out"
core=(Sources/MTASTSCore/*.swift)
vectors=(Tests/MTASTSCoreTests/Vectors/RecordVectors.swift Tests/MTASTSCoreTests/Vectors/PolicyVectors.swift)
common=(-I Sources/CIDN2 -lidn2)

# compile OUTPUT NAME SOURCE... -- FLAGS...: rebuild OUTPUT when it is missing or older than any source.
compile() {
    local output=$1 name=$2
    shift 2
    local sources=() flags=()
    while [[ $1 != -- ]]; do sources+=("$1"); shift; done
    shift
    flags=("$@")
    local stale=0 f
    [[ -x $output ]] || stale=1
    for f in "${sources[@]}" Sources/CIDN2/module.modulemap Sources/CIDN2/shim.h scripts/fuzz.sh; do
        [[ $f -nt $output ]] && stale=1
    done
    if [[ $stale == 0 ]]; then
        echo "fuzz: $output is up to date"
        return
    fi
    echo "fuzz: building $output"
    local log=$output.log
    if ! "$swiftc" -module-name "$name" "${flags[@]}" "${common[@]}" "${sources[@]}" -o "$output" >"$log" 2>&1; then
        grep -v "Cannot export local symbol" "$log" >&2 || true
        echo "fuzz: building $output failed (full log: $log)" >&2
        exit 1
    fi
    # ld.gold warns about every ASan helper symbol; those warnings are harmless. Show anything else.
    grep -v "Cannot export local symbol" "$log" >&2 || true
}

# Seeds: every unit-test vector, one file each.
compile "$out/seed-writer" SeedWriter "${core[@]}" "${vectors[@]}" Fuzz/SeedWriter/main.swift -- -O
rm -rf "$out/seeds"
"$out/seed-writer" "$out/seeds"

failed=0
summaries=()

for t in "${targets[@]}"; do
    sources=("${core[@]}") extra=()
    case $t in
        record) harness=FuzzRecord ;;
        policy) harness=FuzzPolicy ;;
        request) harness=FuzzRequest sources=(Sources/MTASTSPolicyHost/RequestHeadScanner.swift) ;;
        line) harness=FuzzLine ;;
        # The report parser without the store protocol and summary that share its target; deflate for the harness.
        reports) harness=FuzzReports extra=(-I Sources/CZlib -lz)
            sources=(Sources/MTASTSReports/{TLSReport,ResultTypes,JSONValue,JSONScanner,DateTime,ReportJSON,Gzip,MIME,TLSReportParser}.swift
                Tests/ReportsTests/GzipSupport.swift) ;;
        # The ACME client's pure files: objects, problems, header readers, renewal information (no NIO, Crypto or X509).
        acme) harness=FuzzACME sources=(Sources/MTASTSACME/{ACMEObjects,ACMEProblem,ACMETransport,RenewalInfo,Base64URL}.swift) ;;
    esac
    binary=$out/fuzz-$t
    corpus=$out/corpus-$t
    artifacts=$out/artifacts/$t
    log=$out/fuzz-$t.log
    mkdir -p "$corpus" "$artifacts"

    # -wmo: without it swiftc optimizes each file alone (no inlining or generic specialization across the
    # parser's files): 1.4x the executions per second for the policy target (docs/fuzzing.md).
    compile "$binary" "$harness" "${sources[@]}" "Fuzz/$harness/main.swift" -- \
        -sanitize=fuzzer,address -parse-as-library -g -O -wmo "${extra[@]}"

    if [[ -d $out/seeds/$t ]]; then cp "$out/seeds/$t/"* "$corpus/"; fi
    if [[ -d Fuzz/seeds/$t ]]; then cp "Fuzz/seeds/$t/"* "$corpus/"; fi

    # 1. Regressions: libFuzzer runs the given files once each and exits.
    regressions=()
    while IFS= read -r -d '' f; do regressions+=("$f"); done \
        < <(find "Fuzz/regressions/$t" -type f ! -name .gitkeep ! -name '*.md' -print0 | sort -z)
    if ((${#regressions[@]} > 0)); then
        echo "fuzz $t: replaying ${#regressions[@]} regression input(s) from Fuzz/regressions/$t/"
        if ! "$binary" -timeout=10 -rss_limit_mb=2048 "${regressions[@]}" >"$out/regressions-$t.log" 2>&1; then
            grep -E 'Fatal error|ERROR: |SUMMARY: ' "$out/regressions-$t.log" >&2 || true
            echo "fuzz $t: full log: $out/regressions-$t.log" >&2
            running=$(grep '^Running: ' "$out/regressions-$t.log" | tail -n 1 | sed 's/^Running: //' || true)
            echo "fuzz $t: REGRESSION ${running:-(see $out/regressions-$t.log)} crashes again" >&2
            echo "fuzz $t: reproduce: SWIFT_BACKTRACE=enable=no $binary ${running:-<file>}" >&2
            summaries+=("fuzz $t: regression input crashes (${running:-see $out/regressions-$t.log})")
            failed=1
            continue
        fi
        # Fixed crash inputs are good seeds.
        cp "${regressions[@]}" "$corpus/"
    fi

    # 2. Fuzz. Only new interesting inputs are added to the corpus directory, which persists between runs.
    echo "fuzz $t: fuzzing for $seconds s (corpus $corpus, log $log)"
    rc=0
    # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
    "$binary" -max_total_time="$seconds" -dict="Fuzz/$t.dict" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1 || rc=$?

    runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{ s += $2 } END { print s + 0 }')
    speed=$(grep -E '^stat::average_exec_per_sec:' "$log" | awk '{ s += $2 } END { print s + 0 }')
    if [[ $runs == 0 ]]; then  # no final stats (e.g. after a crash): take the last status line
        runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
        runs=${runs:-0}
    fi
    if [[ $rc != 0 ]] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: libFuzzer|Test unit written)' "$log"; then
        grep -E 'Fatal error|ERROR: |SUMMARY: |^MS: ' "$log" >&2 || true
        echo "fuzz $t: full log: $log" >&2
        crash=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/^Test unit written to //' || true)
        echo "fuzz $t: CRASH (libFuzzer exit status $rc) after $runs runs" >&2
        if [[ -n $crash ]]; then
            echo "fuzz $t: crashing input: $crash ($(wc -c <"$crash") bytes)" >&2
            echo "fuzz $t: hex: $(od -An -v -tx1 "$crash" | tr -s ' \n' ' ' | head -c 600)" >&2
            echo "fuzz $t: reproduce: SWIFT_BACKTRACE=enable=no $binary $crash" >&2
            echo "fuzz $t: then copy it into Fuzz/regressions/$t/ and add it as a unit-test vector (Fuzz/README.md)" >&2
        else
            echo "fuzz $t: no crash file was written; see $log" >&2
        fi
        summaries+=("fuzz $t: $seconds s, $runs runs, CRASH ${crash:-(see $log)}")
        failed=1
        continue
    fi
    corpus_size=$(find "$corpus" -type f | wc -l)
    summaries+=("fuzz $t: $seconds s, $runs runs ($speed exec/s), corpus $corpus_size files, no crash")
done

echo
printf '%s\n' "${summaries[@]}"
exit "$failed"
