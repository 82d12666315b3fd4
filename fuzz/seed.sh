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
