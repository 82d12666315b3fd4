#!/usr/bin/env bash
# The README's test command: formatting, lints, the WASM dashboard build, then every test
# (unit, the integration suite on SQLite AND PostgreSQL, browser e2e). Works on a fresh Debian
# machine with only the Rust toolchain: installs what it needs (wasm target, wasm-bindgen-cli,
# wasm-opt, Chromium, PostgreSQL) and skips what is there.
#
# PostgreSQL: when DATABASE_URL is not set, a throwaway cluster is created with initdb/pg_ctl on
# a private port and socket folder, and removed on exit. Set DATABASE_URL=postgres://... (a user
# allowed to CREATE DATABASE) to use an existing server instead.
#
# Build output goes to CARGO_TARGET_DIR (default ~/.cache/errorwatch/target, outside the clone)
# so later runs and fresh clones reuse it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/errorwatch/target}"
started=$(date +%s)
step() { printf '\n==> [%ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }

# Keep the shared target dir from growing without bound.
if [ -d "$CARGO_TARGET_DIR" ] && [ "$(du -sm "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1)" -gt 20000 ]; then
  step "target dir over 20 GB: cleaning $CARGO_TARGET_DIR"
  rm -rf "$CARGO_TARGET_DIR"
fi

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
  apt-get install -y -qq --no-install-recommends "$@"
}

step "tools"
"$repo/infra/install-tools.sh"
"$repo/infra/install-e2e-sdks.sh"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing Chromium and its WebDriver (apt-get install chromium chromium-driver)"
  apt_install chromium chromium-driver
fi
if cargo nextest --version >/dev/null 2>&1; then
  runner=(cargo nextest run --no-fail-fast)
else
  echo "cargo-nextest not found; using cargo test"
  runner=(cargo test --no-fail-fast)
fi

step "format (cargo fmt --check)"
cargo fmt --all --check

step "lint (cargo clippy -D warnings)"
cargo clippy --all-targets -- -D warnings
cargo clippy -p errorwatch-frontend --target wasm32-unknown-unknown -- -D warnings

step "dashboard unit tests (host build of the frontend crate)"
cargo test -p errorwatch-frontend --lib

step "dashboard (WASM)"
"$repo/infra/build-frontend.sh"

step "build the errorwatch binary"
cargo build -p errorwatch-server

if [ -z "${DATABASE_URL:-}" ]; then
  step "throwaway PostgreSQL cluster"
  # As root the cluster must run as `postgres`, which cannot enter root's home (where the
  # target dir usually is): keep it in a private folder under /tmp instead.
  if [ "$(id -u)" = 0 ]; then pg_dir=$(mktemp -d /tmp/errorwatch-pg.XXXXXX); else pg_dir="$CARGO_TARGET_DIR/pg-$$"; fi
  trap '"$repo/infra/pg.sh" stop "$pg_dir"' EXIT
  for attempt in 1 2 3 4 5; do
    port=$(( 20000 + RANDOM % 20000 ))
    if DATABASE_URL=$("$repo/infra/pg.sh" start "$pg_dir" "$port"); then break; fi
    [ "$attempt" = 5 ] && { echo "could not start PostgreSQL" >&2; exit 1; }
  done
  export DATABASE_URL
  echo "PostgreSQL at $DATABASE_URL (data in $pg_dir)"
fi

step "tests: unit, integration on sqlite and postgres, e2e"
"${runner[@]}"

step "done in $(( $(date +%s) - started )) s"
