#!/usr/bin/env bash
# Installs the tools that infra/build-frontend.sh needs, skipping each one that is already
# present at the right version (safe to run on every build):
#   * the rustup target wasm32-unknown-unknown;
#   * wasm-bindgen-cli at exactly the version Cargo.lock pins for the `wasm-bindgen` crate
#     (the CLI refuses modules built by another version);
#   * wasm-opt from the npm package binaryen@132, in a tools dir outside the repo.
#     Never Debian's binaryen (108): its wasm-opt silently produces a broken bundle.
#
# Env: ERRORWATCH_TOOLS_DIR (default ~/.cache/errorwatch/tools) holds node_modules/.bin/wasm-opt.
# Needs: rustup, cargo, node + npm.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${ERRORWATCH_TOOLS_DIR:-$HOME/.cache/errorwatch/tools}"
binaryen_version=132

log() { printf '[install-tools] %s\n' "$*"; }
die() { printf '[install-tools] error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"; }

# --- wasm32 target -----------------------------------------------------------------------------
need rustup "install Rust with rustup: https://rustup.rs"
if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    log "rust target wasm32-unknown-unknown: present"
else
    log "rust target wasm32-unknown-unknown: installing"
    rustup target add wasm32-unknown-unknown
fi

# --- wasm-bindgen-cli --------------------------------------------------------------------------
lockfile="$repo_root/Cargo.lock"
[[ -f "$lockfile" ]] || die "no Cargo.lock at $lockfile"
wbg_version="$(awk '
    $0 == "name = \"wasm-bindgen\"" { found = 1; next }
    found && /^version = / { gsub(/"/, "", $3); print $3; exit }
    /^\[\[package\]\]/ { found = 0 }
' "$lockfile")"
[[ -n "$wbg_version" ]] || die "Cargo.lock has no wasm-bindgen package"

wbg_installed() { wasm-bindgen --version 2>/dev/null | awk '{print $2}'; }
current="$(wbg_installed || true)"
if [[ "$current" == "$wbg_version" ]]; then
    log "wasm-bindgen $wbg_version: present ($(command -v wasm-bindgen))"
else
    need cargo "install Rust with rustup"
    log "wasm-bindgen: found '${current:-none}', Cargo.lock wants $wbg_version; installing (takes ~3 min)"
    # No --locked: the CLI's own lockfile pins crate versions (webpki-roots 1.0.11 for 0.2.130)
    # that the crates.io index on our machines does not have; unlocked resolution builds fine.
    cargo install wasm-bindgen-cli --version "$wbg_version"
    current="$(wbg_installed || true)"
    [[ "$current" == "$wbg_version" ]] ||
        die "installed wasm-bindgen $wbg_version but '$(command -v wasm-bindgen || echo wasm-bindgen)' reports '${current:-nothing}': put \${CARGO_HOME:-~/.cargo}/bin first on PATH"
fi

# --- wasm-opt (npm binaryen) -------------------------------------------------------------------
wasm_opt="$tools_dir/node_modules/.bin/wasm-opt"
wasm_opt_ok() { [[ -x "$wasm_opt" ]] && "$wasm_opt" --version 2>/dev/null | grep -Eq "version ${binaryen_version}([^0-9]|$)"; }
if wasm_opt_ok; then
    log "wasm-opt $binaryen_version: present ($wasm_opt)"
else
    if ! command -v npm >/dev/null 2>&1; then
        log "npm not found: installing Debian's nodejs and npm"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm ||
            die "could not install npm; install Node.js and npm, then re-run"
    fi
    log "wasm-opt: installing npm binaryen@$binaryen_version into $tools_dir"
    mkdir -p "$tools_dir"
    npm install --prefix "$tools_dir" --no-audit --no-fund --loglevel=error "binaryen@$binaryen_version"
    wasm_opt_ok || die "$wasm_opt does not report version $binaryen_version after npm install"
fi

log "all tools ready"
