#!/usr/bin/env bash
# The resolver benchmark: our `mta-sts resolver`, postfix-mta-sts-resolver (pmsr) and a C epoll floor, in one run,
# on the same loopback world (Benchmarks/world.sh) and with the same compiled load generator (loadgen.c).
#
#   Benchmarks/resolver/run.sh [WORKDIR]        (default /tmp/mta-sts-resolver-bench; needs root: port 443)
#
# Steps: builds the release binary once (swift build -c release --product mta-sts --scratch-path .build-release;
# several minutes the first time, a no-op after), compiles loadgen.c and floor.c, creates pmsr's venv
# (Benchmarks/pmsr/setup.sh), brings the bench world up, runs every phase, prints a markdown table and writes it
# to Benchmarks/resolver/results-<date>.md (raw JSON lines and every command in WORKDIR). Everything is stopped
# on exit. Environment knobs (defaults in brackets):
#   RB_REPEATS [3]  RB_SECS [5] seconds per timed phase  RB_COLD [1000] first-ever domains per cold phase
#   RB_LOW_RATE [11000] requests/s of the paced hit phase (hit_low: 16 connections, one request in flight each,
#     sent at that total rate, so the daemon sleeps between requests as at a mail server's pace; 0: skip it)
#   RB_LOW_SECS [10] its duration (longer than RB_SECS: fewer requests, and CPU time is counted in 10 ms ticks)
#   RB_NOSTS [5000] distinct non-MTA-STS names  RB_FILL [10000] domains for the RSS fill  RB_FILL_BIG [100000] our big fill (0: skip)
#   RB_BIG_MODE [sql|loadgen]: how our store gets from RB_FILL to RB_FILL_BIG domains (see the notes printed)
#   RB_VARIANTS ["floor ours-sqlite ours-memory pmsr"]  RB_BUDGET [840] seconds after which optional parts skip
#   BENCH_DNS_PORT [5400], BENCH_POLICY_ADDR [127.0.1.4]: passed to world.sh
#   RB_SKIP_BUILD=1: use the existing release binary as it is (no swift build); RB_BIN=PATH: that binary instead
#   RB_BASE_BIN=PATH: a release binary of another commit, measured as variant "ours-base" (memory cache) beside
#     "ours-memory" in the same run: before/after comparisons of a change (add ours-base to RB_VARIANTS)
#   RB_REPORT_ONLY=1: only rebuild the markdown from WORKDIR/results.jsonl (no build, no world, no daemons)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
WORK=${1:-/tmp/mta-sts-resolver-bench}
REPEATS=${RB_REPEATS:-3}
SECS=${RB_SECS:-5}
LOW_RATE=${RB_LOW_RATE:-11000}
LOW_SECS=${RB_LOW_SECS:-10}
COLD=${RB_COLD:-1000}
NOSTS=${RB_NOSTS:-5000}
FILL=${RB_FILL:-10000}
FILL_BIG=${RB_FILL_BIG:-100000}
BIG_MODE=${RB_BIG_MODE:-sql}
VARIANTS=${RB_VARIANTS:-"floor ours-sqlite ours-memory pmsr"}
BUDGET=${RB_BUDGET:-840}
export BENCH_DNS_PORT=${BENCH_DNS_PORT:-5400}
export BENCH_POLICY_ADDR=${BENCH_POLICY_ADDR:-127.0.1.4}
NEG_DNS_PORT=$((BENCH_DNS_PORT + 1))
NEG_TTL=300
EXPECT_OK="OK secure match=.mx.bench.test servername=hostname"
expect=(--expect ok --expect-text "$EXPECT_OK")
T_START=$(date +%s)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
WORLD=$WORK/world
RES=$WORK/results.jsonl
CMDS=$WORK/commands.txt
LOGS=$WORK/logs
BIN=${RB_BIN:-$ROOT/.build-release/release/mta-sts}
mkdir -p "$LOGS" "$WORK/bin" "$WORK/state"
if [ "${RB_REPORT_ONLY:-0}" != 1 ]; then
  : > "$RES"
  : > "$CMDS"
fi

say() { echo "[$(($(date +%s) - T_START))s] $*" >&2; }
elapsed() { echo $(($(date +%s) - T_START)); }
over_budget() { [ "$(elapsed)" -ge "$BUDGET" ]; }
note() { printf '%s\n' "$*" >> "$WORK/notes.txt"; }
if [ "${RB_REPORT_ONLY:-0}" != 1 ]; then
  : > "$WORK/notes.txt"
  : > "$WORK/stop-times.txt"
fi
logcmd() { printf '%s\n' "$*" >> "$CMDS"; }                          # a command line as written
logargv() { local q; q=$(printf '%q ' "$@"); printf '%s\n' "${q% }" >> "$CMDS"; }  # an argv, shell-quoted

# ------------------------------------------------------------------------------------------ process bookkeeping
STARTED=()      # every PID we started (daemons, NSD, strace); the world's own peers are stopped by world.sh down
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  [ -n "$st" ] && [ "$st" != Z ]
}
stop_pid() {  # stop_pid PID: TERM, up to 5 s, then KILL; reap it if it is our child
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if alive "$pid"; then
    local what t0
    what=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | cut -c1-60)
    t0=$(date +%s%N)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then
      say "pid $pid ($what) still running 5 s after SIGTERM; killing it"
      note "SIGTERM: pid $pid ($what...) did not exit within 5 s; sent SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    else
      printf '%s %d\n' "$what" $((($(date +%s%N) - t0) / 1000000)) >> "$WORK/stop-times.txt"
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local p
  set +e
  for p in "${STARTED[@]}"; do stop_pid "$p"; done
  [ -x "$HERE/../world.sh" ] && "$HERE/../world.sh" down "$WORLD" > /dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
wait_port() {  # wait_port PORT PID
  local i
  for ((i = 0; i < 200; i++)); do
    alive "$2" || return 1
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
    sleep 0.05
  done
  return 1
}
record() { printf '%s\n' "$1" >> "$RES"; }   # one JSON object
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }  # user nice system irq softirq steal

# lg VARIANT PHASE REPEAT PORT PID [loadgen args...]: one load generator run, JSON appended to results
lg() {
  local v=$1 ph=$2 r=$3 port=$4 pid=$5 out rc
  shift 5
  local cmd=("$WORK/bin/loadgen" --connect "127.0.0.1:$port" --pid "$pid" --label "$v/$ph/$r" "$@")
  logargv "${cmd[@]}"
  rc=0
  local b0 b1
  b0=$(busy_ticks)
  out=$("${cmd[@]}") || rc=$?
  b1=$(busy_ticks)
  [ -n "$out" ] || out="{\"label\":\"$v/$ph/$r\",\"error\":\"loadgen exit $rc, no output\"}"
  # machine_busy_s: all CPUs' non-idle time over the run (compare with daemon + loadgen (+ policy host, NSD))
  record "${out%\}},\"machine_busy_s\":$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.2f", (b - a) / 100 }'),\"loadavg\":\"$(loadavg)\",\"rc\":$rc}"
  say "$v $ph #$r: $(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print("rps=%s p99=%sus cpu/req=%sus replies=%s errors=%s unexpected=%s" % (j.get("rps"), j.get("lat_us",{}).get("p99"), j.get("daemon_cpu_us_per_req"), j.get("replies"), j.get("error_count"), j.get("unexpected")))' "$out")"
}

# ------------------------------------------------------------------------------------------ the report
# report: the markdown table from WORKDIR/results.jsonl (RB_REPORT_ONLY=1 run.sh WORKDIR: only this)
report() {
OUT=$HERE/results-$(date -u +%F).md
python3 - "$RES" "$WORK/notes.txt" "$CMDS" "$OUT" "$VARIANTS" "$REPEATS" "$SECS" "$COLD" "$FILL" "$FILL_BIG" "$NOSTS" "$BIG_MODE" "$LOW_RATE" <<'PY'
import json, os, statistics, sys
res, notes, cmds, out, variants, repeats, secs, cold, fill, fill_big, nosts, big_mode, low_rate = sys.argv[1:]
big_how = " (store expanded by SQL, restart, all touched: see notes)" if big_mode == "sql" else ""
variants = variants.split()
rows = {}
for line in open(res):
    line = line.strip()
    if not line:
        continue
    j = json.loads(line)
    v, ph, r = j["label"].split("/")
    rows.setdefault((v, ph), []).append(j)

def vals(v, ph, f):
    out = []
    for j in rows.get((v, ph), []):
        x = f(j)
        if x is not None:
            out.append(x)
    return out

def med(xs):
    return statistics.median(xs) if xs else None

def fmt(x, d=0):
    if x is None:
        return "–"
    if isinstance(x, float) and d == 0 and abs(x) < 10:
        d = 1 if abs(x) >= 1 else 2
    return f"{x:,.{d}f}"

def cell(v, ph, f, d=0, spread=True):
    xs = vals(v, ph, f)
    if not xs:
        return None, "–"
    m = med(xs)
    s = fmt(m, d)
    if spread and len(xs) > 1:
        s += " (" + ", ".join(fmt(x, d) for x in xs) + ")"
    return m, s

rps = lambda j: j.get("rps") if not j.get("error") else None
p50 = lambda j: j["lat_us"]["p50"] if "lat_us" in j else None
p99 = lambda j: j["lat_us"]["p99"] if "lat_us" in j else None
p999 = lambda j: j["lat_us"]["p999"] if "lat_us" in j else None
cpu = lambda j: j.get("daemon_cpu_us_per_req")
cpu_ms = lambda j: j["daemon_cpu_us_per_req"] / 1000 if j.get("daemon_cpu_us_per_req") is not None else None
rss_mib = lambda j: j["rss_kb"] / 1024
def ms(f):
    return lambda j: (f(j) / 1000 if f(j) is not None else None)

metrics = [
    ("cache hit, 16 conns × 1 in flight: req/s", "hit", rps, 0, "higher"),
    ("  p50 latency µs", "hit", p50, 0, "lower"),
    ("  p99 latency µs", "hit", p99, 0, "lower"),
    ("  p99.9 latency µs", "hit", p999, 0, "lower"),
    ("  daemon CPU µs/req", "hit", cpu, 1, "lower"),
    (f"cache hit paced at {int(low_rate):,} req/s, 16 conns × 1 in flight: req/s reached", "hit_low", rps, 0, "higher"),
    ("  p99 latency µs", "hit_low", p99, 0, "lower"),
    ("  daemon CPU µs/req", "hit_low", cpu, 1, "lower"),
    ("cache hit, 16 conns × 8 pipelined: req/s", "pipe8", rps, 0, "higher"),
    ("  p99 latency µs", "pipe8", p99, 0, "lower"),
    ("  daemon CPU µs/req", "pipe8", cpu, 2, "lower"),
    (f"cold miss ({cold} first-ever domains, 16 conns): lookups/s", "cold", rps, 0, "higher"),
    ("  p50 latency ms", "cold", ms(p50), 1, "lower"),
    ("  p99 latency ms", "cold", ms(p99), 1, "lower"),
    ("  daemon CPU ms/lookup", "cold", cpu_ms, 2, "lower"),
    (f"non-MTA-STS, cold ({int(nosts):,} NXDOMAIN names): req/s", "nosts_cold", rps, 0, "higher"),
    ("  daemon CPU µs/req", "nosts_cold", cpu, 0, "lower"),
    (f"non-MTA-STS, repeated over the same {int(nosts):,}, world TTL 0: req/s", "nosts_rep", rps, 0, "higher"),
    ("  p99 latency µs", "nosts_rep", p99, 0, "lower"),
    ("  daemon CPU µs/req", "nosts_rep", cpu, 1, "lower"),
    (f"non-MTA-STS, repeated over the same {int(nosts):,}, negative TTL 300 s: req/s", "negttl_rep", rps, 0, "higher"),
    ("  p99 latency µs", "negttl_rep", p99, 0, "lower"),
    ("  daemon CPU µs/req", "negttl_rep", cpu, 1, "lower"),
    ("RSS idle (fresh daemon) MiB", "rss_idle", rss_mib, 1, "lower"),
    ("RSS after the repeat's phases MiB", "rss_end", rss_mib, 1, "lower"),
    (f"RSS with {int(fill):,} cached domains (fetched via the socketmap) MiB", "rss_fill", rss_mib, 1, "lower"),
    (f"cache hit with {int(fill):,} cached: req/s", "hit_fill", rps, 0, "higher"),
    ("  daemon CPU µs/req", "hit_fill", cpu, 1, "lower"),
    (f"RSS with {int(fill_big):,} cached domains{big_how} MiB", "rss_big", rss_mib, 1, "lower"),
    (f"  RSS right after loading {int(fill_big):,} from the store, before any lookup MiB", "rss_big_loaded", rss_mib, 1, "lower"),
    (f"cache hit with {int(fill_big):,} cached: req/s", "hit_big", rps, 0, "higher"),
    ("  daemon CPU µs/req", "hit_big", cpu, 1, "lower"),
    ("HTTPS fetches for 20 concurrent first lookups of one domain", "fetches20", lambda j: j.get("accepts"), 0, "lower"),
]

cols = [v for v in ["floor", "ours-sqlite", "ours-base", "ours-memory", "pmsr"] if v in variants]
ratio_pairs = [(a, b) for a, b in [("ours-sqlite", "pmsr"), ("ours-memory", "pmsr"), ("ours-sqlite", "floor"),
                                   ("ours-memory", "floor"), ("ours-base", "floor"), ("ours-memory", "ours-base")]
               if a in cols and b in cols]
lines = []
head = "| metric | " + " | ".join(cols) + " | " + " | ".join(f"{a.replace('ours-', 'ours ')}/{b}" for a, b in ratio_pairs) + " |"
lines.append(head)
lines.append("|" + "---|" * (1 + len(cols) + len(ratio_pairs)))
for name, ph, f, d, better in metrics:
    meds, cells = {}, []
    for v in cols:
        m, s = cell(v, ph, f, d)
        meds[v] = m
        cells.append(s)
    if all(c == "–" for c in cells):
        continue
    rs = []
    for a, b in ratio_pairs:
        if meds.get(a) is not None and meds.get(b):
            rs.append(f"{meds[a] / meds[b]:.2f}×")
        else:
            rs.append("–")
    lines.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")

# per-domain memory
extra = []
for v in cols:
    idle = med(vals(v, "fill_idle", lambda j: j["rss_kb"]))
    f10 = med(vals(v, "rss_fill", lambda j: j["rss_kb"]))
    big = med(vals(v, "rss_big", lambda j: j["rss_kb"]))
    if idle and f10:
        extra.append(f"- {v}: RSS {idle / 1024:.1f} MiB idle → {f10 / 1024:.1f} MiB with {int(fill):,} domains = "
                     f"**{(f10 - idle) / int(fill):.2f} KiB per cached domain**"
                     + (f"; → {big / 1024:.1f} MiB with {int(fill_big):,} = {(big - idle) / int(fill_big):.2f} KiB/domain "
                        f"overall, {(big - f10) / (int(fill_big) - int(fill)):.2f} KiB/domain marginal" if big else ""))
for v in cols:
    for ph in ("cached_fill", "cached_big", "store_rows_big"):
        for j in rows.get((v, ph), []):
            extra.append(f"- {v} {ph}: {j.get('cached', j.get('rows'))}"
                         + (f" (DANE statuses: {j['dane_rows']})" if "dane_rows" in j else ""))
    f20 = rows.get((v, "fetches20"), [])
    if f20:
        extra.append(f"- {v} fetches for 20 concurrent misses, per repeat: policy-host accepts "
                     f"{[j['accepts'] for j in f20]}" + (f", daemon metric fetches{{valid}} {[j['metric_fetches'] for j in f20]}"
                                                        if f20[0].get("metric_fetches") is not None else ""))
    for ph in ("fill", "fill_big", "touch_big", "negttl_cold"):
        for j in rows.get((v, ph), []):
            if "rps" in j:
                extra.append(f"- {v} {ph}: {j['requests']} requests at {j['rps']:,.0f}/s, daemon CPU "
                             f"{j.get('daemon_cpu_us_per_req', 0):,.0f} µs/req, replies {j['replies']}")
    for ph in ("cold", "nosts_cold"):
        for j in rows.get((v, ph), []):
            if len(j.get("cpu_s", [])) > 1:
                extra.append(f"- {v} {ph} #{j['label'].split('/')[2]}: CPU s daemon/policy-host/NSD = "
                             f"{'/'.join(str(x) for x in j['cpu_s'])} over {j['seconds']} s")

# how much CPU other processes took during the timed phases (the machine is shared)
for v in cols:
    for ph in ("hit", "hit_low", "pipe8", "cold", "nosts_rep"):
        js = [j for j in rows.get((v, ph), []) if "machine_busy_s" in j and "seconds" in j]
        if js:
            parts = []
            for j in js:
                mine = sum(j.get("cpu_s", [])) + j.get("loadgen_cpu_s", 0)
                parts.append(f"{j['machine_busy_s']:.1f}/{os.cpu_count() * j['seconds']:.1f} core-s busy, {max(0.0, j['machine_busy_s'] - mine):.1f} not ours (load {j.get('loadavg')})")
            extra.append(f"- machine during {v} {ph}: " + "; ".join(parts))

problems = []
for (v, ph), js in rows.items():
    for j in js:
        bad = {k: j[k] for k in ("error_count", "unexpected", "ok_mismatch", "error") if j.get(k)}
        if bad:
            problems.append(f"- {j['label']}: {bad} replies={j.get('replies')} "
                            f"sample={j.get('sample_unexpected', j.get('sample_mismatch', ''))!r} errors={j.get('errors')}")

md = []
md.append(f"# Resolver benchmark: ours vs postfix-mta-sts-resolver vs the C floor\n")
md.append(f"Medians of {repeats} repeats (each with a fresh daemon; the individual runs in parentheses); timed phases "
          f"{secs} s; one compiled load generator (Benchmarks/resolver/loadgen.c); daemon CPU = utime+stime of the daemon "
          f"process (all threads) over the phase, per reply. Ratios are ours ÷ other (req/s: higher is better; "
          f"µs, ms, MiB, fetches: lower is better). 'ours sqlite' is our default store.\n")
md += lines
md.append("\n## Details\n")
md += extra
md.append("\n## Replies that were not as expected, errors\n")
md += problems or ["- none: every reply was a well-formed netstring of the expected kind and bytes"]
md.append("\n## Machine and notes\n")
md += ["- " + l.rstrip() for l in open(notes) if l.strip()]
md.append("\n## Commands (as run)\n")
md.append("```")
for l in open(cmds):
    md.append(l.rstrip())
md.append("```")
text = "\n".join(md) + "\n"
open(out, "w").write(text)
print("\n".join(lines))
print()
print("\n".join(extra))
print("\nproblems:\n" + ("\n".join(problems) if problems else "none"))
print("\ncommands (first repeat; all of them in the results file):")
for l in open(cmds):
    l = l.rstrip()
    if "--label" in l and "/1 " not in l:
        continue
    print("  " + l)
PY
say "results: $OUT (raw: $RES, commands: $CMDS, logs: $LOGS)"
}

if [ "${RB_REPORT_ONLY:-0}" = 1 ]; then
  trap - EXIT
  report
  exit 0
fi

# ------------------------------------------------------------------------------------------ 1. build
say "building the release binary (once; a no-op when up to date)"
BUILD_CMD=(swift build -c release --product mta-sts --scratch-path "$ROOT/.build-release")
logcmd "(cd $ROOT && ${BUILD_CMD[*]})"
if [ "${RB_SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then
  say "RB_SKIP_BUILD=1: using the existing $BIN as it is"
  note "RB_SKIP_BUILD=1: the binary was not rebuilt"
else
  (cd "$ROOT" && "${BUILD_CMD[@]}") > "$LOGS/swift-build.log" 2>&1 || { tail -n 30 "$LOGS/swift-build.log" >&2; exit 1; }
fi
note "binary: $BIN built $(date -u -r "$BIN" +%FT%TZ)"
[ -z "${RB_BASE_BIN:-}" ] || note "base binary (ours-base): $RB_BASE_BIN built $(date -u -r "$RB_BASE_BIN" +%FT%TZ)"
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
for c in loadgen floor; do
  logcmd "gcc -O2 -Wall -o $WORK/bin/$c $HERE/$c.c"
  gcc -O2 -Wall -o "$WORK/bin/$c" "$HERE/$c.c"
done

# ------------------------------------------------------------------------------------------ 2. pmsr venv + world
if [[ " $VARIANTS " == *" pmsr "* ]]; then
  say "pmsr venv"
  logcmd "$ROOT/Benchmarks/pmsr/setup.sh $WORK/pmsr"
  "$ROOT/Benchmarks/pmsr/setup.sh" "$WORK/pmsr" > "$LOGS/pmsr-setup.log" 2>&1 || { cat "$LOGS/pmsr-setup.log" >&2; exit 1; }
  PMSR_VERSIONS=$(grep -v '^pmsr:' "$LOGS/pmsr-setup.log" | tr '\n' ';')
fi
PY=$WORK/pmsr/venv/bin/python

say "bench world up (DNS 127.0.0.1:$BENCH_DNS_PORT, HTTPS $BENCH_POLICY_ADDR:443, $COLD certificates pre-minted)"
logcmd "BENCH_DNS_PORT=$BENCH_DNS_PORT BENCH_POLICY_ADDR=$BENCH_POLICY_ADDR BENCH_PREMINT=$COLD $ROOT/Benchmarks/world.sh up $WORLD"
BENCH_PREMINT=$COLD "$ROOT/Benchmarks/world.sh" up "$WORLD" > "$LOGS/world-up.log" 2>&1 || { cat "$LOGS/world-up.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$WORLD/env"
SRV_PID=$(cat "$WORLD/run/policyserver.pid")
NSD_MAIN=$(cat "$WORLD/run/nsd.proc.pid")
nsd_workers() { pgrep -P "$NSD_MAIN" | tr '\n' ' '; }

# A second NSD (ours, for one phase only) serving the same zone with a negative TTL of $NEG_TTL s (SOA TTL and
# minimum), so that "no MTA-STS" answers may be cached: the world's zone has TTL 0 everywhere.
NEG=$WORK/negttl
mkdir -p "$NEG/run"
sed -e "s/^@\( *\)0\( *SOA .*\) 0$/@\1$NEG_TTL\2 $NEG_TTL/" "$WORLD/dns/bench.test.zone" > "$NEG/bench.test.zone"
grep -q " SOA .* $NEG_TTL\$" "$NEG/bench.test.zone" || { echo "could not rewrite the SOA line" >&2; exit 1; }
cat > "$NEG/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$NEG_DNS_PORT
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$NEG"
  pidfile: "$NEG/run/nsd.pid"
  database: ""
  zonelistfile: "$NEG/zone.list"
  xfrdfile: "$NEG/xfrd.state"
  xfrdir: "$NEG"
  logfile: "$NEG/nsd.log"
  server-count: 1
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.test.zone
CONF

start_neg_nsd() {
  setsid nsd -d -c "$NEG/nsd.conf" < /dev/null >> "$NEG/nsd.out" 2>&1 &
  NEG_NSD=$!
  STARTED+=("$NEG_NSD")
  local i
  for ((i = 0; i < 100; i++)); do
    dig @127.0.0.1 -p "$NEG_DNS_PORT" +norec +time=1 +tries=1 +short SOA bench.test 2> /dev/null | grep -q hostmaster && return 0
    sleep 0.05
  done
  echo "second NSD did not start" >&2; return 1
}

# ------------------------------------------------------------------------------------------ daemons
# start VARIANT PORT [DNS]: sets DPID (and MPORT for ours)
start_daemon() {
  local v=$1 port=$2 dns=${3:-$DNS_SERVER} log="$LOGS/$1.log"
  case $v in
    floor)
      logcmd "$WORK/bin/floor 127.0.0.1 $port"
      "$WORK/bin/floor" 127.0.0.1 "$port" >> "$log" 2>&1 &
      DPID=$! ;;
    ours-sqlite|ours-memory|ours-base)
      local cache=memory bin=$BIN
      [ "$v" != ours-base ] || bin=${RB_BASE_BIN:?ours-base needs RB_BASE_BIN}
      if [ "$v" = ours-sqlite ]; then
        DB="$WORK/state/cache-$port-$RANDOM.sqlite"
        cache="sqlite:$DB"
      fi
      MPORT=$((port + 100))
      local cmd=("$bin" resolver --listen "127.0.0.1:$port" --cache "$cache" --dns-server "$dns" --ca-file "$CA_FILE"
                 --metrics "127.0.0.1:$MPORT" --log-level warning)
      logargv "${cmd[@]}"
      "${cmd[@]}" >> "$log" 2>&1 &
      DPID=$! ;;
    pmsr)
      cat > "$WORK/state/pmsr-$port.yml" <<YML
host: 127.0.0.1
port: $port
cache:
  type: internal
  options:
    cache_size: $((FILL_BIG * 2))
default_zone:
  strict_testing: false
  timeout: 4
YML
      logcmd "BENCH_DNS=$dns SSL_CERT_FILE=$CA_FILE $PY $HERE/pmsr_daemon.py -c $WORK/state/pmsr-$port.yml -v warn   # pmsr.yml: $(tr '\n' ' ' < "$WORK/state/pmsr-$port.yml")"
      BENCH_DNS=$dns SSL_CERT_FILE=$CA_FILE "$PY" "$HERE/pmsr_daemon.py" -c "$WORK/state/pmsr-$port.yml" -v warn >> "$log" 2>&1 &
      DPID=$! ;;
  esac
  STARTED+=("$DPID")
  wait_port "$port" "$DPID" || { echo "$v did not start; log:" >&2; tail -n 30 "$log" >&2; exit 1; }
  sleep 1  # settle (pmsr: imports done, event loop idle; ours: store open)
}
stop_daemon() { stop_pid "$1"; }

metric() {  # metric MPORT NAME-WITH-LABELS
  curl -s --max-time 3 "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k {print $2}'
}

# fetches N: how many HTTPS connections the policy host accepted while CMD ran (strace on its accepting thread)
count_accepts() {  # count_accepts OUTFILE -- cmd...
  local out=$1 sp i; shift 2
  logcmd "strace -qq -e trace=accept,accept4 -p $SRV_PID -o $out &   # the policy host's accepted connections during:"
  strace -qq -e trace=accept,accept4 -p "$SRV_PID" -o "$out" 2> /dev/null &
  sp=$!
  STARTED+=("$sp")
  for ((i = 0; i < 100; i++)); do
    [ "$(awk '/^TracerPid:/ {print $2}' "/proc/$SRV_PID/status")" != 0 ] && break
    sleep 0.02
  done
  "$@"
  sleep 1  # stragglers (pmsr answers only when its own fetch finished; nothing should be left)
  stop_pid "$sp"
  grep -cE 'accept4?\(.*= [0-9]+$' "$out" || true
}

base_port() {
  case $1 in floor) echo 18470 ;; ours-sqlite) echo 18461 ;; ours-memory) echo 18462 ;; pmsr) echo 18463 ;; ours-base) echo 18464 ;; esac
}

# ------------------------------------------------------------------------------------------ 3. phases
{
  echo "start: $(date -u +%FT%TZ), loadavg $(loadavg), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "kernel: $(uname -r); swift: $(swift --version 2>&1 | head -n1)"
  echo "source: $(git -C "$ROOT" rev-parse --short HEAD) ($(git -C "$ROOT" log -1 --format=%s | cut -c1-80)...), uncommitted changes under Sources/: $(git -C "$ROOT" status --short -- Sources | wc -l) files"
  echo "pmsr: ${PMSR_VERSIONS:-n/a}"
  echo "other busy processes at start: $(ps -eo pcpu,comm --sort=-pcpu --no-headers | awk '$1 > 5 {printf "%s(%s%%) ", $2, $1}')"
} >> "$WORK/notes.txt"

say "phases: $VARIANTS, $REPEATS repeats, ${SECS}s timed phases"
for r in $(seq 1 "$REPEATS"); do
  for v in $VARIANTS; do
    port=$(base_port "$v")
    start_daemon "$v" "$port"
    record "{\"label\":\"$v/rss_idle/$r\",\"rss_kb\":$(rss_kb "$DPID")}"
    if [ "$v" != floor ]; then
      lg "$v" cold "$r" "$port" "$DPID" --pid "$SRV_PID" $(for p in $(nsd_workers); do echo --pid "$p"; done) \
        --pattern 'd%d.bench.test' --range "0:$COLD" --seq --count "$COLD" "${expect[@]}"
    fi
    lg "$v" hit "$r" "$port" "$DPID" --pattern 'd%d.bench.test' --range "0:$COLD" --random --seed "$r" \
      --duration "$SECS" "${expect[@]}"
    if [ "$LOW_RATE" != 0 ]; then
      lg "$v" hit_low "$r" "$port" "$DPID" --rate "$LOW_RATE" --pattern 'd%d.bench.test' --range "0:$COLD" --random \
        --seed "$r" --duration "$LOW_SECS" "${expect[@]}"
    fi
    lg "$v" pipe8 "$r" "$port" "$DPID" --pipeline 8 --pattern 'd%d.bench.test' --range "0:$COLD" --random --seed "$r" \
      --duration "$SECS" "${expect[@]}"
    if [ "$v" != floor ]; then
      lg "$v" nosts_cold "$r" "$port" "$DPID" --pid "$SRV_PID" $(for p in $(nsd_workers); do echo --pid "$p"; done) \
        --pattern 'n%d.nosts.bench.test' --range "0:$NOSTS" --seq --count "$NOSTS" --expect notfound
      lg "$v" nosts_rep "$r" "$port" "$DPID" --pattern 'n%d.nosts.bench.test' --range "0:$NOSTS" --random \
        --seed "$r" --duration "$SECS" --expect notfound
      # 20 concurrent first lookups of one fresh domain
      dom="coalesce-$v-$r.bench.test"
      before=""
      [[ $v == ours-* ]] && before=$(metric "$MPORT" 'mtasts_policy_fetches_total{outcome="valid"}')
      n=$(count_accepts "$WORK/state/strace-$v-$r.txt" -- \
        lg "$v" coalesce "$r" "$port" "$DPID" --conns 20 --count 20 --domain "$dom" "${expect[@]}")
      mfetch=null
      if [[ $v == ours-* ]]; then
        after=$(metric "$MPORT" 'mtasts_policy_fetches_total{outcome="valid"}')
        mfetch=$(( ${after:-0} - ${before:-0} ))
      fi
      record "{\"label\":\"$v/fetches20/$r\",\"accepts\":${n:-null},\"metric_fetches\":$mfetch}"
      say "$v fetches for 20 concurrent misses #$r: policy-host accepts=$n metric=$mfetch"
    fi
    record "{\"label\":\"$v/rss_end/$r\",\"rss_kb\":$(rss_kb "$DPID")}"
    stop_daemon "$DPID"
  done
done

# Non-MTA-STS domains where "no MTA-STS" may be cached (negative TTL $NEG_TTL s; ours caches it, pmsr asks
# c-ares, whose cache honours the TTL)
if ! over_budget; then
  start_neg_nsd
  for v in $VARIANTS; do
    [ "$v" = floor ] && continue
    port=$(( $(base_port "$v") + 10 ))
    start_daemon "$v" "$port" "127.0.0.1:$NEG_DNS_PORT"
    lg "$v" negttl_cold 1 "$port" "$DPID" --pattern 'n%d.nosts.bench.test' --range "0:$NOSTS" --seq --count "$NOSTS" \
      --expect notfound
    for r in $(seq 1 "$REPEATS"); do
      lg "$v" negttl_rep "$r" "$port" "$DPID" --pattern 'n%d.nosts.bench.test' --range "0:$NOSTS" --random \
        --seed "$r" --duration "$SECS" --expect notfound
    done
    stop_daemon "$DPID"
  done
  stop_pid "$NEG_NSD"
else
  note "skipped: negative-TTL phase (over the time budget)"
fi

# RSS with many cached domains: a fresh daemon, filled with distinct domains by the load generator (32 connections).
# Order: our default (sqlite), pmsr, then our memory store (optional: skipped when over the time budget).
for v in ours-sqlite pmsr ours-memory; do
  [[ " $VARIANTS " == *" $v "* ]] || continue
  [ "$v" = floor ] && continue
  if [ "$v" = ours-memory ] && over_budget; then note "skipped: $v RSS fill (over the time budget)"; continue; fi
  port=$(( $(base_port "$v") + 20 ))
  start_daemon "$v" "$port"
  record "{\"label\":\"$v/fill_idle/1\",\"rss_kb\":$(rss_kb "$DPID")}"
  lg "$v" fill 1 "$port" "$DPID" --pid "$SRV_PID" --conns 32 --pattern 'd%d.bench.test' --range "0:$FILL" --seq \
    --count "$FILL" --timeout 600 "${expect[@]}"
  sleep 2
  record "{\"label\":\"$v/rss_fill/1\",\"rss_kb\":$(rss_kb "$DPID"),\"domains\":$FILL}"
  [[ $v == ours-* ]] && record "{\"label\":\"$v/cached_fill/1\",\"cached\":$(metric "$MPORT" mtasts_cached_policies)}"
  lg "$v" hit_fill 1 "$port" "$DPID" --pattern 'd%d.bench.test' --range "0:$FILL" --random --duration "$SECS" \
    "${expect[@]}"
  if [ "$v" = ours-sqlite ] && [ "$FILL_BIG" -gt "$FILL" ]; then
    if over_budget; then
      note "skipped: ours-sqlite $FILL_BIG fill (over the time budget)"
    elif [ "$BIG_MODE" = loadgen ]; then
      lg "$v" fill_big 1 "$port" "$DPID" --pid "$SRV_PID" --conns 32 --pattern 'd%d.bench.test' \
        --range "$FILL:$FILL_BIG" --seq --count "$((FILL_BIG - FILL))" --timeout 900 "${expect[@]}"
      sleep 2
      record "{\"label\":\"$v/rss_big/1\",\"rss_kb\":$(rss_kb "$DPID"),\"domains\":$FILL_BIG}"
      record "{\"label\":\"$v/cached_big/1\",\"cached\":$(metric "$MPORT" mtasts_cached_policies)}"
      lg "$v" hit_big 1 "$port" "$DPID" --pattern 'd%d.bench.test' --range "0:$FILL_BIG" --random \
        --duration "$SECS" "${expect[@]}"
    else
      # sql: stop the daemon, copy the $FILL fetched rows of its store to $FILL_BIG distinct domains
      # (d$FILL.. get the row of d(i mod $FILL), renamed), start it again on that store (it loads every entry
      # at start) and touch every domain once through the socketmap (all hits) before reading RSS.
      db=$DB
      stop_daemon "$DPID"
      sql="WITH RECURSIVE n(i) AS (SELECT $FILL UNION ALL SELECT i + 1 FROM n WHERE i < $((FILL_BIG - 1)))
INSERT INTO policies SELECT 'd' || n.i || '.bench.test', p.policy_id, p.body, p.mode, p.max_age, p.mx, p.fetched_at,
 p.expires_at, p.last_checked, p.last_used, p.failed_id, p.failed_at FROM n JOIN policies p ON p.domain = 'd' || (n.i % $FILL) || '.bench.test';
WITH RECURSIVE n(i) AS (SELECT $FILL UNION ALL SELECT i + 1 FROM n WHERE i < $((FILL_BIG - 1)))
INSERT INTO dane_status SELECT 'd' || n.i || '.bench.test', s.regime, s.reason, s.stored_at, s.expires_at
 FROM n JOIN dane_status s ON s.domain = 'd' || (n.i % $FILL) || '.bench.test';"
      logcmd "sqlite3 $db \"$sql\""
      sqlite3 "$db" "$sql"
      record "{\"label\":\"$v/store_rows_big/1\",\"rows\":$(sqlite3 "$db" 'SELECT count(*) FROM policies'),\"dane_rows\":$(sqlite3 "$db" 'SELECT count(*) FROM dane_status')}"
      cmd=("$BIN" resolver --listen "127.0.0.1:$port" --cache "sqlite:$db" --dns-server "$DNS_SERVER" --ca-file "$CA_FILE"
           --metrics "127.0.0.1:$MPORT" --log-level warning)
      logargv "${cmd[@]}"
      "${cmd[@]}" >> "$LOGS/$v-big.log" 2>&1 &
      DPID=$!
      STARTED+=("$DPID")
      wait_port "$port" "$DPID" || { tail -n 30 "$LOGS/$v-big.log" >&2; exit 1; }
      sleep 1
      record "{\"label\":\"$v/rss_big_loaded/1\",\"rss_kb\":$(rss_kb "$DPID"),\"domains\":$FILL_BIG}"
      lg "$v" touch_big 1 "$port" "$DPID" --conns 16 --pattern 'd%d.bench.test' --range "0:$FILL_BIG" --seq \
        --count "$FILL_BIG" "${expect[@]}"
      sleep 2
      record "{\"label\":\"$v/rss_big/1\",\"rss_kb\":$(rss_kb "$DPID"),\"domains\":$FILL_BIG}"
      record "{\"label\":\"$v/cached_big/1\",\"cached\":$(metric "$MPORT" mtasts_cached_policies)}"
      lg "$v" hit_big 1 "$port" "$DPID" --pattern 'd%d.bench.test' --range "0:$FILL_BIG" --random \
        --duration "$SECS" "${expect[@]}"
      note "ours-sqlite $FILL_BIG: $FILL domains fetched through the socketmap, then the store expanded to $FILL_BIG rows with SQL (policies and DANE statuses, as a daemon that had cached $FILL_BIG domains would have stored) and the daemon restarted on it (loads every row at start), then every domain looked up once (hits)"
    fi
  fi
  [ "$v" = pmsr ] && [ "$FILL_BIG" -gt "$FILL" ] && note "pmsr: measured at $FILL cached domains only; a $FILL_BIG fill at its cold rate (~250 lookups/s) would take ~$((FILL_BIG / 250 / 60)) minutes"
  stop_daemon "$DPID"
done

{
  echo "end: $(date -u +%FT%TZ), loadavg $(loadavg), runtime $(elapsed) s"
  echo "policy host CPU (world): $(awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); printf "%.1f s", (f[12] + f[13]) / 100 }' "/proc/$SRV_PID/stat")"
} >> "$WORK/notes.txt"

# ------------------------------------------------------------------------------------------ 4. report
report
