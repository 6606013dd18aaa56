# Starting and stopping a world's daemons by pid file; sourced by scripts/testbed.sh and Benchmarks/world.sh.
# Robust to recycled PIDs (a pid file's process must mention DIR/ in its command line) and to a PID 1 that
# reaps exited orphans late (this sandbox's does so about once a second).
# The sourcing script sets DIR (the world's directory), PEERS_NAME (the log prefix) and defines `down`.

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  [ "$state" != Z ] && [ -n "$state" ]
}

# ours PID: a live process whose command line mentions DIR/.
ours() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$DIR/"
}

# stop_pidfile FILE: TERM the process named in FILE (if it is ours), wait up to 5 s, then KILL it and any
# children it left; remove FILE. Adds the PIDs to STOPPED.
STOPPED=()
stop_pidfile() {
  local pf=$1 pid kids i
  [ -f "$pf" ] || return 0
  pid=$(head -n1 "$pf" 2>/dev/null || true)
  if ours "$pid"; then
    kids=$(pgrep -P "$pid" || true)
    STOPPED+=("$pid" $kids)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 250; i++)); do alive "$pid" || break; sleep 0.02; done
    if alive "$pid"; then
      echo "$PEERS_NAME: $pid ($(basename "$pf")) ignored TERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    for i in $kids; do alive "$i" && kill -KILL "$i" 2>/dev/null || true; done
  fi
  rm -f "$pf"
}

# stop_peers [reap] PIDFILE...: stop each; with "reap", also wait (up to 5 s) until the stopped processes are
# reaped, so `pgrep` shows no <defunct> entries right after.
stop_peers() {
  local reap=0 i p left
  if [ "${1:-}" = reap ]; then reap=1; shift; elif [ "${1:-}" = "" ]; then shift; fi
  STOPPED=()
  for p in "$@"; do stop_pidfile "$p"; done
  [ $reap -eq 1 ] || return 0
  for ((i = 0; i < 100; i++)); do
    left=0
    for p in "${STOPPED[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ "$left" -eq 1 ] || break
    sleep 0.05
  done
}

# fail_peer NAME LOG...: a peer did not come up; show its logs, stop everything (`down reap`), exit 1.
fail_peer() {
  local name=$1 f; shift
  echo "$PEERS_NAME: $name failed to start" >&2
  for f in "$@"; do
    [ -s "$f" ] && { echo "----- $f -----" >&2; tail -n 40 "$f" >&2; }
  done
  down reap
  exit 1
}
