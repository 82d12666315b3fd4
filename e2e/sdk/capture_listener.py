"""A tiny Sentry-ingest stand-in for developing the SDK programs without the server.

Listens on 127.0.0.1 only, answers every POST with 200 {"id": ...}, and prints one JSON line
per request: path, query, the headers that matter, the encodings, and the envelope's items
(type, length header, size, and for events the keys present). With --dump DIR it also writes
each decompressed body to DIR/NNN.envelope.

    python3 e2e/sdk/capture_listener.py --port 9009 [--dump /tmp/envelopes]
    SENTRY_DSN=http://abc@127.0.0.1:9009/1 python3 e2e/sdk/python/send_all.py

Decoding br needs the `brotli` module (run it with the venv-brotli interpreter from
infra/install-e2e-sdks.sh).
"""

import argparse
import gzip
import json
import os
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import brotli  # type: ignore
except ImportError:  # pragma: no cover
    brotli = None

COUNTER = {"n": 0}
LOCK = threading.Lock()


def read_body(handler):
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length", "0")))


def decode(body, encoding):
    encoding = (encoding or "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        if brotli is None:
            raise RuntimeError("br body but no brotli module")
        return brotli.decompress(body)
    return body


def parse_envelope(data):
    lines = data.split(b"\n", 1)
    header = json.loads(lines[0] or b"{}")
    rest = lines[1] if len(lines) > 1 else b""
    items = []
    while rest.strip():
        head, _, rest = rest.partition(b"\n")
        if not head.strip():
            continue
        item = json.loads(head)
        if "length" in item:
            payload, rest = rest[: item["length"]], rest[item["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        summary = {"type": item.get("type"), "has_length": "length" in item, "size": len(payload)}
        for key in ("filename", "content_type", "attachment_type"):
            if key in item:
                summary[key] = item[key]
        if item.get("type") in ("event", "transaction", "feedback"):
            try:
                summary["keys"] = sorted(json.loads(payload).keys())
            except ValueError:
                summary["keys"] = "unparseable"
        items.append(summary)
    return header, items


class Handler(BaseHTTPRequestHandler):
    dump = None

    def do_POST(self):  # noqa: N802
        raw = read_body(self)
        encoding = self.headers.get("Content-Encoding")
        record = {
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "content_encoding": encoding,
            "transfer_encoding": self.headers.get("Transfer-Encoding"),
            "x_sentry_auth": bool(self.headers.get("X-Sentry-Auth")),
            "user_agent": self.headers.get("User-Agent"),
            "raw_size": len(raw),
        }
        try:
            data = decode(raw, encoding)
            header, items = parse_envelope(data)
            record["envelope_header_keys"] = sorted(header.keys())
            record["event_id"] = header.get("event_id")
            record["items"] = items
        except Exception as error:  # noqa: BLE001
            data = raw
            record["error"] = repr(error)
        with LOCK:
            COUNTER["n"] += 1
            n = COUNTER["n"]
        if self.dump:
            with open(os.path.join(self.dump, f"{n:03}.envelope"), "wb") as f:
                f.write(data)
        print(json.dumps(record), flush=True)
        body = json.dumps({"id": (record.get("event_id") or "").replace("-", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9009)
    parser.add_argument("--dump")
    args = parser.parse_args()
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        Handler.dump = args.dump
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
