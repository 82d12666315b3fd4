#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: `infra/pg.sh start DIR PORT` creates it (initdb) and
# starts it on 127.0.0.1:PORT with its socket in DIR; `infra/pg.sh stop DIR` stops it and
# deletes DIR. Installs Debian's postgresql when initdb/pg_ctl are missing. initdb refuses to
# run as root, so as root the cluster runs as the `postgres` user (DIR is handed to it).
set -euo pipefail

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local found
  found=$(ls -1d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$found" ] && echo "$found"
}

ensure_postgres() {
  if [ -z "$(find_bin initdb)" ] || [ -z "$(find_bin pg_ctl)" ]; then
    echo "==> installing PostgreSQL (apt-get install postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
  fi
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd=${1:?usage: pg.sh start DIR PORT | stop DIR}
dir=${2:?missing DIR}
case "$cmd" in
  start)
    port=${3:?missing PORT}
    ensure_postgres
    initdb=$(find_bin initdb); pg_ctl=$(find_bin pg_ctl)
    rm -rf "$dir"; mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
      chown postgres "$dir"
    fi
    as_owner "$initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    pg_ctl=$(find_bin pg_ctl)
    if [ -d "$dir/data" ]; then
      as_owner "$pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: pg.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
