#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the fleet-store tests (Debian's postgresql package).
#
#   scripts/postgres.sh up DIR     initdb under DIR/postgres, start it on 127.0.0.1 (first free port from
#                                  POSTGRES_PORT, default 5433; socket in DIR/postgres too), fsync off, trust
#                                  auth; create user and database `mtasts`; write DIR/env with POSTGRES_URL=...
#                                  and print that line
#   scripts/postgres.sh down DIR   stop it (idempotent; keeps the files)
#   scripts/postgres.sh start DIR  start a stopped server again, same port and data (a restart is down + start)
#
# As root the server runs as the `postgres` user (initdb refuses root); otherwise as the caller.
set -euo pipefail

die() { echo "postgres: $*" >&2; exit 1; }
[ $# -eq 2 ] && [ -n "$2" ] || { echo "usage: $0 up|start|down DIR" >&2; exit 2; }
CMD=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
PG=$DIR/postgres

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$BIN" ] && [ -x "$BIN/initdb" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (scripts/setup.sh installs postgresql)"

as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# free_port START: first port >= START on 127.0.0.1 that nothing has bound.
free_port() {
  python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
while True:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("127.0.0.1", p)); s.close()
        print(p); break
    except OSError:
        p += 1
EOF
}

case "$CMD" in
up)
  if [ -f "$PG/data/postmaster.pid" ] && as_server "$BIN/pg_ctl" -D "$PG/data" status >/dev/null 2>&1; then
    die "already running for $DIR (scripts/postgres.sh down $DIR first)"
  fi
  rm -rf "$PG"
  mkdir -p "$PG"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PG"
    # The server user must reach DIR/postgres: let it traverse DIR (no listing: o+x only).
    runuser -u postgres -- test -x "$DIR" || chmod o+x "$DIR"
    runuser -u postgres -- test -w "$PG" || die "the postgres user cannot write $PG (a parent directory is closed to it)"
  fi
  as_server "$BIN/initdb" -D "$PG/data" -U postgres --auth=trust -E UTF8 --no-instructions >"$PG/initdb.log" 2>&1 ||
    { cat "$PG/initdb.log" >&2; die "initdb failed"; }
  port=$(free_port "${POSTGRES_PORT:-5433}")
  as_server "$BIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$PG/log" >&2; die "pg_ctl start failed"; }
  # Two -c: psql runs one -c's statements in one transaction, where CREATE DATABASE is refused.
  # pg_read_all_settings: the tests find the UNIX socket directory with SHOW.
  as_server psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE USER mtasts PASSWORD 'mtasts'" -c "CREATE DATABASE mtasts OWNER mtasts" \
    -c "GRANT pg_read_all_settings TO mtasts" >/dev/null
  echo "$port" > "$PG/port"
  line="POSTGRES_URL=postgres://mtasts:mtasts@127.0.0.1:$port/mtasts"
  echo "$line" > "$DIR/env.tmp"
  echo "POSTGRES_SOCKET_DIR=$PG" >> "$DIR/env.tmp"
  echo "POSTGRES_PORT=$port" >> "$DIR/env.tmp"
  mv "$DIR/env.tmp" "$DIR/env"
  echo "$line"
  ;;
start)
  [ -f "$PG/port" ] || die "no server was set up in $DIR (scripts/postgres.sh up $DIR first)"
  port=$(cat "$PG/port")
  as_server "$BIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$PG/log" >&2; die "pg_ctl start failed"; }
  ;;
down)
  [ -f "$PG/data/postmaster.pid" ] || exit 0
  as_server "$BIN/pg_ctl" -D "$PG/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: $0 up|start|down DIR" >&2; exit 2
  ;;
esac
