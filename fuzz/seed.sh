#!/usr/bin/env bash
# Seeds corpus/envelope from the unit-test fixtures: each envelope plain (selector byte 0) and
# gzip-compressed (selector byte 1), plus a few hand-written edge cases.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../backend/core/src/ingest/fixtures
mkdir -p corpus/envelope
for f in "$fixtures"/*.envelope; do
    name=$(basename "$f" .envelope)
    { printf '\x00'; cat "$f"; } > "corpus/envelope/$name.plain"
    { printf '\x01'; gzip -c "$f"; } > "corpus/envelope/$name.gzip"
done
printf '\x00{}\n{"type":"attachment","length":3}\nab\r\n{"type":"session"}\n{}\n' > corpus/envelope/edge_crlf
printf '\x00{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc"}\n{"type":"log","item_count":2}\n{"items":[]}\n' > corpus/envelope/edge_container

# Symbolication targets, from the esbuild fixtures (backend/symbolicate/tests/fixtures/out).
maps=../backend/symbolicate/tests/fixtures/out
mkdir -p corpus/sourcemap_lookup corpus/bundle
# sourcemap_lookup: u16 LE line, u16 LE column (1:116, the fixture's throw site), then a map.
for m in content/app.min.js.map nocontent/app.min.js.map nullcontent/app.min.js.map \
         debugid/app.min.js.map indexed/both.min.js.map; do
    { printf '\x01\x00\x74\x00'; cat "$maps/$m"; } > "corpus/sourcemap_lookup/${m%%/*}"
done
# bundle: a SYSB bundle and the same zip without the header, as sentry-cli lays them out.
python3 - "$maps" corpus/bundle <<'PY'
import io, json, struct, sys, zipfile
maps, out = sys.argv[1], sys.argv[2]
files = {
    "files/_/_/static/app.min.js": ("minified_source", "~/static/app.min.js", "debugid/app.min.js",
        {"debug-id": "d91e72dc-6111-55ed-a674-559564fab7e1", "sourcemap": "app.min.js.map"}),
    "files/_/_/static/app.min.js.map": ("source_map", "~/static/app.min.js.map", "debugid/app.min.js.map",
        {"debug-id": "d91e72dc-6111-55ed-a674-559564fab7e1"}),
}
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    manifest = {"files": {}, "org": "acme", "release": "web@1", "debug_id": "00000000-0000-0000-0000-0000000000ff"}
    for path, (kind, url, src, headers) in files.items():
        z.writestr(path, open(f"{maps}/{src}", "rb").read())
        manifest["files"][path] = {"type": kind, "url": url, "headers": headers}
    z.writestr("manifest.json", json.dumps(manifest))
open(f"{out}/sysb", "wb").write(b"SYSB" + struct.pack("<I", 2) + buf.getvalue())
open(f"{out}/plain_zip", "wb").write(buf.getvalue())
PY
