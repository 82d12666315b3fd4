#!/usr/bin/env bash
# Regenerates the grouping fixtures captured with the real SDKs:
#   backend/core/src/grouping/fixtures/sdk/<language>/<case>.<variant>.json
# for Python (sentry-sdk), Node (@sentry/node) and Rust (the `sentry` crate). Each language's
# program captures the same cases (see the `capture` calls in e2e/sdk/python/grouping_app/,
# e2e/sdk/node/grouping_app/ and e2e/src/bin/rust_grouping_cases/) twice, once per deploy:
#
#   variant a: deployA/releases/41/app       the app as written;
#   variant b: deployB/srv/app               a copy with a comment and a blank line added above
#                                            every raise/throw/error and three lines at the top
#                                            (shifted line numbers), other ids, release, host
#                                            and user; Python runs on the system interpreter
#                                            (/usr/lib/python3.11) instead of the venv's
#                                            (pyenv), Node with its own copy of node_modules
#                                            instead of the shared one, Rust built with its
#                                            sources remapped to /srv/build/shop.
#
# Nothing goes over the network: every program hands the SDK a transport that writes each
# event to a file. The events are then trimmed, dropping only what grouping, titles and culprits
# never read and what makes the files large (frame `vars`, `pre_context`, `post_context`; the
# event's `contexts`, `breadcrumbs`, `extra`, `modules`, `debug_meta`; the sdk's package and
# integration lists). Every value kept is the SDK's own.
#
# Env: ERRORWATCH_E2E_DIR (where infra/install-e2e-sdks.sh put the SDKs, default
# ~/.cache/errorwatch/e2e), SYSTEM_PYTHON (default /usr/bin/python3), GROUPING_WORK_DIR (default
# /tmp/ew-grouping: the deploy folders, wiped first; its paths end up in the fixtures).
# Needs: the SDKs (run infra/install-e2e-sdks.sh), cargo, node.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
e2e_dir="${ERRORWATCH_E2E_DIR:-$HOME/.cache/errorwatch/e2e}"
system_python="${SYSTEM_PYTHON:-/usr/bin/python3}"
work="${GROUPING_WORK_DIR:-/tmp/ew-grouping}"
out="$root/backend/core/src/grouping/fixtures/sdk"
venv_python="$e2e_dir/venv/bin/python"

log() { printf '[gen-grouping-fixtures] %s\n' "$*"; }
die() { printf '[gen-grouping-fixtures] error: %s\n' "$*" >&2; exit 1; }

[[ -x "$venv_python" ]] || die "no venv at $e2e_dir/venv: run infra/install-e2e-sdks.sh"
[[ -d "$e2e_dir/node/node_modules/@sentry/node" ]] || die "no @sentry/node in $e2e_dir/node: run infra/install-e2e-sdks.sh"
[[ -x "$system_python" ]] || die "no system python at $system_python (set SYSTEM_PYTHON)"
if [[ "$("$system_python" -c 'import sys; print(sys.base_prefix)')" == "$("$venv_python" -c 'import sys; print(sys.base_prefix)')" ]]; then
    die "$system_python is the venv's own interpreter: set SYSTEM_PYTHON to another one"
fi

rm -rf "$work"
mkdir -p "$work/raw"

# shift SRC DST COMMENT: a copy of SRC with lines added at the top and above every error.
shift_lines() {
    "$venv_python" - "$1" "$2" "$3" <<'EOF'
import re
import sys

src, dst, comment = sys.argv[1:]
lines = [f"{comment} Deployed copy: lines added above every error, so line numbers shift.", comment, ""]
for line in open(src, encoding="utf-8"):
    if re.match(r"\s*(raise|throw|return Err)\b", line):
        indent = line[: len(line) - len(line.lstrip())]
        lines += [f"{indent}{comment} (added in this deploy)", ""]
    lines.append(line.rstrip("\n"))
with open(dst, "w", encoding="utf-8") as out:
    out.write("\n".join(lines) + "\n")
EOF
}

# --- Python ------------------------------------------------------------------------------------
log "python: deploy a (venv $("$venv_python" --version 2>&1))"
app_a="$work/python/deployA/releases/41/app"
mkdir -p "$app_a"
cp -r "$root/e2e/sdk/python/grouping_app/." "$app_a/"
(cd "$app_a" && "$venv_python" grouping_cases.py "$work/raw/python/a" a)

log "python: deploy b (system $("$system_python" --version 2>&1), shifted lines)"
app_b="$work/python/deployB/srv/app"
mkdir -p "$app_b/shop"
cp -r "$root/e2e/sdk/python/grouping_app/." "$app_b/"
shift_lines "$root/e2e/sdk/python/grouping_app/shop/cart.py" "$app_b/shop/cart.py" "#"
site_packages="$("$venv_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
(cd "$app_b" && PYTHONPATH="$site_packages" "$system_python" grouping_cases.py "$work/raw/python/b" b)

# --- Node --------------------------------------------------------------------------------------
log "node: deploy a ($(node --version), shared node_modules)"
app_a="$work/node/deployA/releases/41/app"
mkdir -p "$app_a"
cp -r "$root/e2e/sdk/node/grouping_app/." "$app_a/"
ln -s "$e2e_dir/node/node_modules" "$app_a/node_modules"
(cd "$app_a" && node grouping_cases.cjs "$work/raw/node/a" a)

log "node: deploy b (own copy of node_modules, shifted lines)"
app_b="$work/node/deployB/srv/app"
mkdir -p "$app_b/shop"
cp -r "$root/e2e/sdk/node/grouping_app/." "$app_b/"
shift_lines "$root/e2e/sdk/node/grouping_app/shop/cart.cjs" "$app_b/shop/cart.cjs" "//"
cp -r "$e2e_dir/node/node_modules" "$app_b/node_modules"
(cd "$app_b" && node grouping_cases.cjs "$work/raw/node/b" b)

# --- Rust --------------------------------------------------------------------------------------
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin_src="$root/e2e/src/bin/rust_grouping_cases"
log "rust: build a"
(cd "$root" && cargo build --quiet -p errorwatch-e2e --bin rust_grouping_cases)
mkdir -p "$work/rust/deployA/releases/41/bin"
cp "$target_dir/debug/rust_grouping_cases" "$work/rust/deployA/releases/41/bin/shop"
(cd "$work/rust/deployA/releases/41" && RUST_BACKTRACE=1 ./bin/shop "$work/raw/rust/a" a 2>/dev/null)

log "rust: build b (shifted lines, sources remapped to /srv/build/shop)"
# The shifted copy keeps the name app.rs (file names are part of a frame's identity).
trap 'rm -rf "$bin_src/shifted"' EXIT
mkdir -p "$bin_src/shifted"
shift_lines "$bin_src/app.rs" "$bin_src/shifted/app.rs" "//"
(cd "$root" && cargo rustc --quiet -p errorwatch-e2e --bin rust_grouping_cases --features grouping-shifted \
    -- --remap-path-prefix="$root=/srv/build/shop")
rm -rf "$bin_src/shifted"
mkdir -p "$work/rust/deployB/srv/bin"
cp "$target_dir/debug/rust_grouping_cases" "$work/rust/deployB/srv/bin/shop"
(cd "$work/rust/deployB/srv" && RUST_BACKTRACE=1 ./bin/shop "$work/raw/rust/b" b 2>/dev/null)

# --- Trim into the fixtures --------------------------------------------------------------------
log "trimming into $out"
rm -rf "$out"
"$venv_python" - "$work/raw" "$out" <<'EOF'
import json
import os
import sys

raw_dir, out_dir = sys.argv[1:]
DROP_EVENT = {"contexts", "breadcrumbs", "extra", "modules", "debug_meta", "spans", "request"}
DROP_FRAME = {"vars", "pre_context", "post_context"}


def trim_frames(holder):
    frames = (holder or {}).get("stacktrace", {}) or {}
    for frame in frames.get("frames", []) or []:
        for key in DROP_FRAME:
            frame.pop(key, None)


def values(node):
    if isinstance(node, dict):
        return node.get("values", []) or []
    return node or []


cases = {}
for language in sorted(os.listdir(raw_dir)):
    for variant in sorted(os.listdir(os.path.join(raw_dir, language))):
        folder = os.path.join(raw_dir, language, variant)
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                event = json.load(f)
            for key in DROP_EVENT:
                event.pop(key, None)
            if isinstance(event.get("sdk"), dict):
                event["sdk"] = {k: event["sdk"][k] for k in ("name", "version") if k in event["sdk"]}
            for exception in values(event.get("exception")):
                trim_frames(exception)
            for thread in values(event.get("threads")):
                trim_frames(thread)
            trim_frames(event)
            case = name.removesuffix(".json")
            os.makedirs(os.path.join(out_dir, language), exist_ok=True)
            with open(os.path.join(out_dir, language, f"{case}.{variant}.json"), "w", encoding="utf-8") as f:
                json.dump(event, f, indent=1, ensure_ascii=False)
                f.write("\n")
            cases.setdefault(language, {}).setdefault(case, set()).add(variant)

for language, by_case in cases.items():
    for case, variants in sorted(by_case.items()):
        if variants != {"a", "b"}:
            sys.exit(f"{language}/{case}: captured in {sorted(variants)} only")
    print(f"{language}: {len(by_case)} cases x 2 deploys")
EOF
log "done: $(find "$out" -name '*.json' | wc -l) fixtures, $(du -sh "$out" | cut -f1)"
