"""Sends one of everything with the real Python Sentry SDK (sentry-sdk, PyPI) to SENTRY_DSN.

Env: SENTRY_DSN (required), E2E_RUN (a run tag, set as the `e2e.run` tag on every event).

Sends, in this order:
  * a handled ValueError chained from a KeyError (both with frames), after a breadcrumb, tags
    (`e2e.run`, `sdk`=python), a user (id, email) and a custom `e2e` context were set, with an
    attachment (`report.txt`) on its scope;
  * a message (`capture_message`);
  * a transaction with two child spans (with sentry-sdk 3, which has no transactions, a root
    span with two children, sent as a span container item), and with sentry-sdk 3 two logs;
  * user feedback: sentry-sdk has no feedback API (no `capture_feedback` /
    `capture_user_feedback` in 2.75), so a `feedback` item, shaped as the JavaScript SDK sends
    it, goes through the SDK's own Envelope class and transport;
  * a cron check-in pair (in_progress, then ok) for the monitor `e2e-nightly`;
  * a release-health session (started explicitly, errored by the handled error, ended);
  * an UNHANDLED RuntimeError chained from a KeyError, raised in a child process (this script
    with `--unhandled`) that the SDK's excepthook integration reports; its session crashes.

Prints a JSON summary on stdout: the ids the SDK returned, and per envelope the item types,
Content-Encoding and HTTP status the transport saw. Exits 1 when any envelope was not answered
2xx, the transport dropped anything, or the child did not behave.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import sentry_sdk
from sentry_sdk.crons import capture_checkin
from sentry_sdk.envelope import Envelope, Item, PayloadRef
from sentry_sdk.transport import HttpTransport

# sentry-sdk 3 replaced `send_default_pii` (now an unknown option, a TypeError) with
# `data_collection`; both ask the SDK to send the user's IP and the like.
SDK_MAJOR = int(sentry_sdk.VERSION.split(".")[0])
USER_DATA_OPTION = (
    {"data_collection": {"user_info": True}} if SDK_MAJOR >= 3 else {"send_default_pii": True}
)

RELEASE = "e2e@1.0.0"
ENVIRONMENT = "e2e"

# What the transport saw, one entry per HTTP request, and every drop it reported.
SENT = []
DROPPED = []


class RecordingTransport(HttpTransport):
    """The SDK's own HTTP transport, recording what it sends and how the server answered."""

    def _send_request(self, body, headers, endpoint_type, envelope=None):
        self._last_encoding = headers.get("Content-Encoding")
        self._last_size = len(body)
        return super()._send_request(body, headers, endpoint_type, envelope=envelope)

    def _handle_response(self, response, envelope):
        items = envelope.items if envelope else []
        SENT.append(
            {
                "items": [item.type for item in items],
                # Span and log items are containers: their header says how many they hold.
                "item_counts": [item.headers.get("item_count", 1) for item in items],
                "content_encoding": getattr(self, "_last_encoding", None),
                "body_bytes": getattr(self, "_last_size", None),
                "status": response.status,
            }
        )
        return super()._handle_response(response, envelope)

    def on_dropped_event(self, reason):
        DROPPED.append(reason)
        return super().on_dropped_event(reason)


def init():
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn:
        sys.exit("SENTRY_DSN is not set")
    sentry_sdk.init(
        dsn=dsn,
        release=RELEASE,
        environment=ENVIRONMENT,
        traces_sample_rate=1.0,
        debug=False,
        transport=RecordingTransport,
        **USER_DATA_OPTION,
    )
    run = os.environ.get("E2E_RUN", "manual")
    sentry_sdk.set_tag("e2e.run", run)
    sentry_sdk.set_tag("sdk", "python")
    sentry_sdk.set_user({"id": "user-42", "email": "e2e@example.com", "username": "e2e"})
    sentry_sdk.set_context("e2e", {"run": run, "program": "send_all.py", "pid": os.getpid()})
    return run


def load_price(cart):
    try:
        return cart["price"]
    except KeyError as error:
        raise ValueError("checkout failed: price missing") from error


def load_config(config):
    try:
        return config["database_url"]
    except KeyError as error:
        raise RuntimeError("unhandled e2e crash: no database_url") from error


def unhandled_child():
    """Child mode: an uncaught exception, reported by the excepthook integration."""
    init()
    sentry_sdk.start_session(session_mode="application")
    sentry_sdk.add_breadcrumb(
        category="e2e", message="before the unhandled error", level="info", data={"step": 9}
    )
    report_path = os.environ["E2E_CHILD_REPORT"]
    sentry_hook = sys.excepthook

    def hook(exc_type, value, traceback):
        sentry_hook(exc_type, value, traceback)  # the SDK captures, then prints as usual
        event_id = sentry_sdk.last_event_id()
        sentry_sdk.end_session()  # status crashed: sent now rather than at exit
        sentry_sdk.flush(timeout=10)
        with open(report_path, "w") as report:
            json.dump({"event_id": event_id, "envelopes": SENT, "dropped": DROPPED}, report)

    sys.excepthook = hook
    load_config({})


def run_child():
    with tempfile.TemporaryDirectory() as folder:
        report_path = os.path.join(folder, "child.json")
        env = dict(os.environ, E2E_CHILD_REPORT=report_path)
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--unhandled"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        report = {}
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
        return child, report


def send_feedback(associated_event_id, run):
    event_id = uuid.uuid4().hex
    feedback = {
        "event_id": event_id,
        "timestamp": time.time(),
        "platform": "python",
        "level": "info",
        "release": RELEASE,
        "environment": ENVIRONMENT,
        "tags": {"e2e.run": run, "sdk": "python"},
        "contexts": {
            "feedback": {
                "message": "The checkout button did nothing (e2e feedback).",
                "contact_email": "e2e@example.com",
                "name": "E2E Tester",
                "associated_event_id": associated_event_id,
                "source": "e2e-python",
            }
        },
    }
    envelope = Envelope(headers={"event_id": event_id})
    envelope.add_item(Item(payload=PayloadRef(json=feedback), type="feedback"))
    sentry_sdk.get_client().transport.capture_envelope(envelope)
    return event_id


def main():
    run = init()
    ids = {}
    sentry_sdk.start_session(session_mode="application")

    # A handled, chained exception with breadcrumb, tags, user, context and an attachment.
    sentry_sdk.add_breadcrumb(
        category="e2e", message="before the handled error", level="info", data={"step": 1}
    )
    try:
        load_price({"sku": "A-1"})
    except ValueError as error:
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(
                bytes=f"e2e attachment for run {run}\n".encode(), filename="report.txt"
            )
            ids["handled"] = sentry_sdk.capture_exception(error)

    # A message.
    sentry_sdk.add_breadcrumb(category="e2e", message="before the message", level="warning")
    ids["message"] = sentry_sdk.capture_message("e2e python message", level="warning")

    # A transaction with two child spans (sentry-sdk 3 has no transactions: a root span with
    # two children, sent as span items).
    if SDK_MAJOR >= 3:
        op = lambda name: {"sentry.op": name}  # noqa: E731
        with sentry_sdk.start_span(name="e2e python transaction", attributes=op("e2e.task")) as root:
            with sentry_sdk.start_span(name="SELECT 1", attributes=op("db.query")):
                time.sleep(0.01)
            with sentry_sdk.start_span(name="GET /price", attributes=op("http.client")):
                time.sleep(0.01)
            ids["transaction_trace_id"] = root.trace_id
    else:
        with sentry_sdk.start_transaction(op="e2e.task", name="e2e python transaction") as transaction:
            with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
                time.sleep(0.01)
            with sentry_sdk.start_span(op="http.client", name="GET /price"):
                time.sleep(0.01)
            ids["transaction_trace_id"] = transaction.trace_id

    # Logs (sentry-sdk 3 sends them as `log` container items; 2.x only with an experiment).
    if SDK_MAJOR >= 3:
        sentry_sdk.logger.info("e2e python log for run {run}", run=run)
        sentry_sdk.logger.warning("e2e python warning log")

    # User feedback.
    ids["feedback"] = send_feedback(ids["handled"], run)

    # A cron check-in pair.
    monitor_config = {
        "schedule": {"type": "crontab", "value": "0 3 * * *"},
        "checkin_margin": 5,
        "max_runtime": 10,
        "timezone": "UTC",
    }
    check_in_id = capture_checkin(
        monitor_slug="e2e-nightly", status="in_progress", monitor_config=monitor_config
    )
    capture_checkin(monitor_slug="e2e-nightly", check_in_id=check_in_id, status="ok", duration=0.5)
    ids["check_in"] = check_in_id

    sentry_sdk.end_session()
    sentry_sdk.flush(timeout=10)

    # The unhandled exception, in a child process.
    child, child_report = run_child()
    ids["unhandled"] = child_report.get("event_id")

    problems = []
    for name in ("handled", "message", "unhandled"):
        if not ids.get(name):
            problems.append(f"no event id for {name}")
    for label, envelopes, dropped in (
        ("parent", SENT, DROPPED),
        ("child", child_report.get("envelopes", []), child_report.get("dropped", [])),
    ):
        if not envelopes:
            problems.append(f"{label}: the transport sent nothing")
        for envelope in envelopes:
            if not 200 <= envelope["status"] < 300:
                problems.append(f"{label}: HTTP {envelope['status']} for items {envelope['items']}")
        if dropped:
            problems.append(f"{label}: the transport dropped envelopes: {dropped}")
    if child.returncode != 1 or "RuntimeError" not in child.stderr:
        problems.append(
            f"child exited {child.returncode}, expected 1 with a RuntimeError; stderr: {child.stderr[-2000:]}"
        )

    summary = {
        "sdk": "sentry.python",
        "version": sentry_sdk.VERSION,
        "run": run,
        "ids": ids,
        "envelopes": SENT,
        "child_envelopes": child_report.get("envelopes", []),
        "child_exit_code": child.returncode,
        "feedback_api": "none in this sentry-sdk: feedback item sent through the SDK's Envelope + transport",
        "problems": problems,
    }
    print(json.dumps(summary, indent=2))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    if sys.argv[1:] == ["--unhandled"]:
        unhandled_child()
    else:
        main()
