#!/usr/bin/env bash
# The README's run command: builds the dashboard (WASM) and the release binary, then starts
# `errorwatch serve` on SQLite (./data/errorwatch.db) at http://127.0.0.1:8000 unless the
# environment says otherwise. Arguments go to `errorwatch serve` (e.g. --no-workers).
# Installs what the build needs (wasm target, wasm-bindgen-cli, wasm-opt) and skips what is there.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/errorwatch/target}"

"$repo/infra/build-frontend.sh"
echo "==> cargo build --release -p errorwatch-server (a first build compiles the whole stack: several minutes on 2 cores)"
cargo build --release -p errorwatch-server
export ERRORWATCH_FRONTEND_DIR="${ERRORWATCH_FRONTEND_DIR:-$repo/frontend/dist}"
echo "==> errorwatch serve $*"
exec "$CARGO_TARGET_DIR/release/errorwatch" serve "$@"
