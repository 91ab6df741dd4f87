#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the issuer's tests.
#
#   eval "$(bash scripts/postgres.sh)"        # start; exports INKCARD_TEST_PG_URL and INKCARD_TEST_PG_DIR
#   bash scripts/postgres.sh stop             # stop the cluster in $INKCARD_TEST_PG_DIR and delete it
#
# stdout carries only the `export` lines (so eval is safe); progress goes to stderr.
# Installs Debian's postgresql when no server binaries are found. The server refuses
# to run as root, so as root it runs as the `postgres` system user (created by the
# package). Authentication is `trust`, for 127.0.0.1 only: the cluster listens on
# nothing else, lives in a temporary directory and holds nothing but test data.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

# As root, run a command as the postgres user (from /, which that user can read).
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  dir="${INKCARD_TEST_PG_DIR:?INKCARD_TEST_PG_DIR is not set: nothing to stop}"
  bin="$(cat "$dir/bindir")"
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  rm -rf -- "$dir"
  log "stopped and removed $dir"
  exit 0
fi

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true; }

bin="$(find_bindir)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  log "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y postgresql >&2
  bin="$(find_bindir)"
fi
[ -x "$bin/initdb" ] || { log "no initdb after installing postgresql"; exit 1; }
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  log "running as root but there is no postgres user to run the server as"; exit 1
fi

# A free loopback port: ask the kernel for one (a race with another process taking
# it before the server binds is possible but harmless: pg_ctl then fails loudly).
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

dir="$(mktemp -d /tmp/inkcard-pg.XXXXXX)"
echo "$bin" >"$dir/bindir"
mkdir "$dir/data" "$dir/sock"
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi

log "initdb in $dir (PostgreSQL $("$bin/postgres" --version | awk '{print $3}'))"
as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }

as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c max_connections=200" start >&2 \
  || { cat "$dir/server.log" >&2; exit 1; }

as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres inkcard_test

url="postgres://postgres@127.0.0.1:$port/inkcard_test"
log "ready at $url"
export INKCARD_TEST_PG_URL="$url" INKCARD_TEST_PG_DIR="$dir"
echo "export INKCARD_TEST_PG_URL=$url"
echo "export INKCARD_TEST_PG_DIR=$dir"
