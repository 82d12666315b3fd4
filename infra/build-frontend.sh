#!/usr/bin/env bash
# Builds the Leptos dashboard into frontend/dist/ (served by the backend):
#   cargo (profile wasm-release) → wasm-bindgen --target web → wasm-opt -Oz → index.html,
#   plus precompressed .gz siblings. Installs missing tools first (infra/install-tools.sh).
#
# Env: CARGO_TARGET_DIR (default ~/.cache/errorwatch/target, shared with the backend builds),
#      ERRORWATCH_TOOLS_DIR (where install-tools.sh put wasm-opt).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/errorwatch/target}"
tools_dir="${ERRORWATCH_TOOLS_DIR:-$HOME/.cache/errorwatch/tools}"
wasm_opt="$tools_dir/node_modules/.bin/wasm-opt"
frontend="$repo_root/frontend"
dist="$frontend/dist"
name=errorwatch_frontend

log() { printf '[build-frontend] %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s%N) / 1000000 - $1 )) ms"; }
now_ms() { echo "$(( $(date +%s%N) / 1000000 ))"; }

"$repo_root/infra/install-tools.sh"

cd "$repo_root"
t=$(now_ms)
log "cargo build --profile wasm-release --target wasm32-unknown-unknown -p errorwatch-frontend (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --profile wasm-release --target wasm32-unknown-unknown -p errorwatch-frontend
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/$name.wasm"
[[ -f "$wasm" ]] || { log "error: cargo produced no $wasm"; exit 1; }
log "cargo: $(elapsed "$t")"

t=$(now_ms)
log "wasm-bindgen → $dist"
rm -rf "$dist"
mkdir -p "$dist"
wasm-bindgen --target web --no-typescript --out-dir "$dist" --out-name "$name" "$wasm"
log "wasm-bindgen: $(elapsed "$t")"

# No --enable-* flags needed: wasm-opt takes the features from the module's target_features
# section (rustc's wasm32 defaults: mutable globals, sign-ext, non-trapping float-to-int, bulk
# memory, reference types, multivalue), which wasm-bindgen passes through.
t=$(now_ms)
bg="$dist/${name}_bg.wasm"
log "wasm-opt -Oz $(basename "$bg") ($("$wasm_opt" --version))"
"$wasm_opt" -Oz --strip-debug --strip-producers "$bg" -o "$bg.opt"
mv -f "$bg.opt" "$bg"
log "wasm-opt: $(elapsed "$t")"

cp "$frontend/index.html" "$dist/index.html"

# Precompressed siblings for tower-http's ServeDir::precompressed_gzip().
while IFS= read -r -d '' f; do
    gzip -9 -k -f -n "$f"
done < <(find "$dist" -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.html' \) -print0)

log "output ($dist):"
while IFS= read -r -d '' f; do
    rel="${f#"$dist"/}"
    raw=$(stat -c %s "$f")
    if [[ -f "$f.gz" ]]; then
        printf '  %-36s %9d B   gzip %9d B\n' "$rel" "$raw" "$(stat -c %s "$f.gz")"
    else
        printf '  %-36s %9d B\n' "$rel" "$raw"
    fi
done < <(find "$dist" -type f ! -name '*.gz' -print0 | sort -z)
