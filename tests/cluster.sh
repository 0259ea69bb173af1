#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for the tests, the demo and the benchmarks.
#
#   tests/cluster.sh start DIR [PORT] [extra postgresql.conf lines...]
#   tests/cluster.sh stop DIR
#
# The cluster lives in DIR/data and listens only on a private socket directory DIR/sock
# (no TCP), so runs never collide with another server. initdb refuses to run as root, so when
# we are root the server runs as the 'postgres' OS user (created by Debian's postgresql-common).
# DIR/env holds the libpq variables a client needs: `. DIR/env; psql`.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: cluster.sh start|stop DIR [PORT]}
dir=${2:?usage: cluster.sh start|stop DIR [PORT]}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  port=${3:-5432}
  shift 3 || shift $#
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/sock"
  chmod 700 "$dir/sock"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$dir"
    # The server user must be able to reach DIR (mktemp -d makes its parent root-only).
    parent=$(dirname "$dir")
    while [ "$parent" != / ]; do chmod o+x "$parent"; parent=$(dirname "$parent"); done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$dir/sock'"
      echo "port = $port"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "max_connections = 100"
      echo "max_wal_senders = 10"
      echo "wal_level = replica"
      echo "hot_standby = on"
      echo "log_min_messages = warning"
      echo "shared_buffers = 256MB"
      for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    echo "local replication all trust" >>"$dir/data/pg_hba.conf"
  fi
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  cat >"$dir/env" <<ENV
export PGHOST='$dir/sock'
export PGPORT=$port
export PGUSER=postgres
export PGDATABASE=postgres
export PATH='$PGBIN':\$PATH
ENV
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
  fi
  ;;
*)
  echo "usage: cluster.sh start|stop DIR [PORT]" >&2
  exit 2
  ;;
esac
