#!/usr/bin/env bash
# Installs the real Sentry SDKs that the e2e tests (e2e/tests/sdks.rs) drive against a running
# `errorwatch serve`, skipping each one already present at the pinned version (safe to run on
# every test run):
#   * $DIR/venv          Python venv with sentry-sdk==$SENTRY_PY (sends gzip bodies);
#   * $DIR/venv-brotli   the same plus `brotli` (sentry-sdk then sends br bodies);
#   * $DIR/venv3         sentry-sdk==$SENTRY_PY3, the current major (what `pip install
#                        sentry-sdk` installs today; the setup snippet is run with it);
#   * $DIR/node          npm @sentry/node@$SENTRY_NODE (chunked, key in the query string);
#   * $DIR/browser       npm @sentry/browser@$SENTRY_BROWSER and esbuild@$ESBUILD, which
#                        bundles e2e/sdk/browser/send_all.mjs for a page Chromium opens
#                        (and e2e/sdk/cli/ for the sentry-cli test);
#   * $DIR/sentry-cli    npm @sentry/cli $SENTRY_CLI2 and $SENTRY_CLI3 under the aliases
#                        sentry-cli-2 and sentry-cli-3 (e2e/tests/sentry_cli.rs). The binary
#                        comes from npm's platform package (@sentry/cli-linux-x64, an optional
#                        dependency), never from the CDN the postinstall script would fetch it
#                        from: SENTRYCLI_SKIP_DOWNLOAD=1.
# The Rust SDK is a crates.io dependency of the e2e crate (e2e/src/bin/rust_sdk_client.rs): cargo
# fetches it, nothing to install here.
#
# Env: ERRORWATCH_E2E_DIR (default ~/.cache/errorwatch/e2e).
# Needs: python3 (Debian's python3-venv is installed with apt-get when `python3 -m venv` fails),
# node + npm (Debian's nodejs and npm are installed with apt-get when npm is missing; note that
# @sentry/node 11 wants Node >= 20.19, newer than Debian 12's nodejs 18).
set -euo pipefail

# Pinned versions; both checked to exist on the registries (pip index versions sentry-sdk,
# npm view @sentry/node version, npm view @sentry/cli versions) when this script was written.
# sentry-cli: the last 2.x and the newest 3.x.
SENTRY_PY=2.75.0
SENTRY_PY3=3.0.1
SENTRY_NODE=11.12.0
SENTRY_BROWSER=11.19.0
ESBUILD=0.28.2
BROTLI=1.2.1
SENTRY_CLI2=2.58.6
SENTRY_CLI3=3.8.0

e2e_dir="${ERRORWATCH_E2E_DIR:-$HOME/.cache/errorwatch/e2e}"

log() { printf '[install-e2e-sdks] %s\n' "$*"; }
die() { printf '[install-e2e-sdks] error: %s\n' "$*" >&2; exit 1; }

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z "${apt_updated:-}" ]]; then apt-get update -qq; apt_updated=1; fi
    apt-get install -y -qq --no-install-recommends "$@"
}

mkdir -p "$e2e_dir"

# --- Python ------------------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || { log "python3 not found: installing Debian's python3"; apt_install python3; }

# Prints the installed version of a distribution in a venv, or nothing.
py_version() { # venv dist
    [[ -x "$1/bin/python" ]] || return 0
    "$1/bin/python" - "$2" 2>/dev/null <<'EOF' || true
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
EOF
}

make_venv() { # dir
    if [[ -x "$1/bin/python" ]] && "$1/bin/python" -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    rm -rf "$1"
    if ! python3 -m venv "$1" 2>/dev/null; then
        log "python3 -m venv failed: installing Debian's python3-venv"
        rm -rf "$1"
        apt_install python3-venv
        python3 -m venv "$1" || die "python3 -m venv $1 still fails after installing python3-venv"
    fi
}

pip_install() { # venv requirement...
    local venv="$1"
    shift
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
}

venv="$e2e_dir/venv"
if [[ "$(py_version "$venv" sentry-sdk)" == "$SENTRY_PY" && -z "$(py_version "$venv" brotli)" ]]; then
    log "venv: sentry-sdk $SENTRY_PY present ($venv)"
else
    log "venv: installing sentry-sdk==$SENTRY_PY into $venv"
    make_venv "$venv"
    pip_install "$venv" "sentry-sdk==$SENTRY_PY"
    # This venv must stay without brotli, so the SDK sends gzip.
    if [[ -n "$(py_version "$venv" brotli)" ]]; then
        "$venv/bin/python" -m pip uninstall --quiet --yes brotli
    fi
fi

venv_br="$e2e_dir/venv-brotli"
if [[ "$(py_version "$venv_br" sentry-sdk)" == "$SENTRY_PY" && "$(py_version "$venv_br" brotli)" == "$BROTLI" ]]; then
    log "venv-brotli: sentry-sdk $SENTRY_PY + brotli $BROTLI present ($venv_br)"
else
    log "venv-brotli: installing sentry-sdk==$SENTRY_PY brotli==$BROTLI into $venv_br"
    make_venv "$venv_br"
    pip_install "$venv_br" "sentry-sdk==$SENTRY_PY" "brotli==$BROTLI"
fi

venv3="$e2e_dir/venv3"
if [[ "$(py_version "$venv3" sentry-sdk)" == "$SENTRY_PY3" ]]; then
    log "venv3: sentry-sdk $SENTRY_PY3 present ($venv3)"
else
    log "venv3: installing sentry-sdk==$SENTRY_PY3 into $venv3"
    make_venv "$venv3"
    pip_install "$venv3" "sentry-sdk==$SENTRY_PY3"
fi

# --- Node --------------------------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: installing Debian's nodejs and npm"
    apt_install nodejs npm || die "could not install npm; install Node.js (>= 20.19) and npm, then re-run"
fi
node_dir="$e2e_dir/node"
node_sdk_version() {
    local pkg="$node_dir/node_modules/@sentry/node/package.json"
    [[ -f "$pkg" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg" 2>/dev/null || true
}
if [[ "$(node_sdk_version)" == "$SENTRY_NODE" ]]; then
    log "node: @sentry/node $SENTRY_NODE present ($node_dir)"
else
    log "node: installing @sentry/node@$SENTRY_NODE into $node_dir"
    mkdir -p "$node_dir"
    # A package.json of our own so npm installs here and not in a parent folder's project.
    [[ -f "$node_dir/package.json" ]] ||
        printf '{"name":"errorwatch-e2e-sdks","private":true,"type":"module"}\n' >"$node_dir/package.json"
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error --save-exact "@sentry/node@$SENTRY_NODE"
    [[ "$(node_sdk_version)" == "$SENTRY_NODE" ]] || die "@sentry/node $SENTRY_NODE not found in $node_dir after npm install"
fi
browser_dir="$e2e_dir/browser"
browser_pkg_version() { # package
    local pkg="$browser_dir/node_modules/$1/package.json"
    [[ -f "$pkg" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg" 2>/dev/null || true
}
if [[ "$(browser_pkg_version @sentry/browser)" == "$SENTRY_BROWSER" && "$(browser_pkg_version esbuild)" == "$ESBUILD" ]]; then
    log "browser: @sentry/browser $SENTRY_BROWSER + esbuild $ESBUILD present ($browser_dir)"
else
    log "browser: installing @sentry/browser@$SENTRY_BROWSER esbuild@$ESBUILD into $browser_dir"
    mkdir -p "$browser_dir"
    [[ -f "$browser_dir/package.json" ]] ||
        printf '{"name":"errorwatch-e2e-browser-sdk","private":true}\n' >"$browser_dir/package.json"
    npm install --prefix "$browser_dir" --no-audit --no-fund --loglevel=error --save-exact \
        "@sentry/browser@$SENTRY_BROWSER" "esbuild@$ESBUILD"
    [[ "$(browser_pkg_version @sentry/browser)" == "$SENTRY_BROWSER" ]] || die "@sentry/browser $SENTRY_BROWSER not found in $browser_dir after npm install"
fi
cli_dir="$e2e_dir/sentry-cli"
# Prints what the binary of alias sentry-cli-$1 answers to --version (`sentry-cli 2.58.6`), or
# nothing. The package's own helper finds the binary (in its platform package).
cli_version() { # major
    local helper="$cli_dir/node_modules/sentry-cli-$1/js/helper.js" bin
    [[ -f "$helper" ]] || return 0
    bin="$(node -e 'process.stdout.write(require(process.argv[1]).getPath())' "$helper" 2>/dev/null)" || return 0
    [[ -x "$bin" ]] || return 0
    "$bin" --version 2>/dev/null || true
}
if [[ "$(cli_version 2)" == "sentry-cli $SENTRY_CLI2" && "$(cli_version 3)" == "sentry-cli $SENTRY_CLI3" ]]; then
    log "sentry-cli: @sentry/cli $SENTRY_CLI2 + $SENTRY_CLI3 present ($cli_dir)"
else
    log "sentry-cli: installing @sentry/cli $SENTRY_CLI2 and $SENTRY_CLI3 into $cli_dir"
    mkdir -p "$cli_dir"
    [[ -f "$cli_dir/package.json" ]] ||
        printf '{"name":"errorwatch-e2e-sentry-cli","private":true}\n' >"$cli_dir/package.json"
    SENTRYCLI_SKIP_DOWNLOAD=1 npm install --prefix "$cli_dir" --no-audit --no-fund --loglevel=error \
        --save-exact --include=optional \
        "sentry-cli-2@npm:@sentry/cli@$SENTRY_CLI2" "sentry-cli-3@npm:@sentry/cli@$SENTRY_CLI3"
    [[ "$(cli_version 2)" == "sentry-cli $SENTRY_CLI2" ]] ||
        die "sentry-cli $SENTRY_CLI2 does not run from $cli_dir (is @sentry/cli-linux-x64 or your platform's package installed?)"
    [[ "$(cli_version 3)" == "sentry-cli $SENTRY_CLI3" ]] ||
        die "sentry-cli $SENTRY_CLI3 does not run from $cli_dir (is @sentry/cli-linux-x64 or your platform's package installed?)"
fi
node_version="$(node --version)"
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)'; then
    log "warning: node $node_version is older than @sentry/node $SENTRY_NODE wants (>= 20.19 or >= 22.12)"
fi

# --- Versions ----------------------------------------------------------------------------------
log "python: $("$venv/bin/python" --version 2>&1), sentry-sdk $(py_version "$venv" sentry-sdk) in $venv"
log "python: sentry-sdk $(py_version "$venv_br" sentry-sdk) + brotli $(py_version "$venv_br" brotli) in $venv_br"
log "python: sentry-sdk $(py_version "$venv3" sentry-sdk) in $venv3"
log "node: $node_version, @sentry/node $(node_sdk_version) in $node_dir"
log "browser: @sentry/browser $(browser_pkg_version @sentry/browser), esbuild $(browser_pkg_version esbuild) in $browser_dir"
log "sentry-cli: $(cli_version 2), $(cli_version 3) in $cli_dir"
log "all e2e SDKs ready"
