"""Sends errors with the real Python Sentry SDK to SENTRY_DSN until its quota runs out.

Env: SENTRY_DSN (required), E2E_COUNT (errors to capture, default 10).

Captures E2E_COUNT handled errors, flushing after each, through the SDK's own HTTP transport
(client reports on). The server answers 200 with `X-Sentry-Rate-Limits: …:error…:organization:
usage_exceeded` once the account's quota is used up (or 429 past it), so the SDK must stop
sending errors and count the rest as discarded (`ratelimit_backoff`) in a client report, which
it sends at the end.

Prints a JSON summary: per HTTP request the item types and status, and what the SDK recorded
as discarded.
"""

import json
import os

import sentry_sdk
from sentry_sdk.transport import HttpTransport

SENT = []
DISCARDED = []


class RecordingTransport(HttpTransport):
    """The SDK's own transport, recording each request's items and the answer."""

    def _handle_response(self, response, envelope):
        SENT.append(
            {
                "items": [item.type for item in (envelope.items if envelope else [])],
                "status": response.status,
                "rate_limits": response.headers.get("x-sentry-rate-limits"),
            }
        )
        return super()._handle_response(response, envelope)

    def record_lost_event(self, reason, data_category=None, item=None, *, quantity=1):
        category = item.data_category if item is not None else data_category
        DISCARDED.append({"reason": reason, "category": category, "quantity": quantity})
        return super().record_lost_event(reason, data_category, item, quantity=quantity)


def main():
    count = int(os.environ.get("E2E_COUNT", "10"))
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        transport=RecordingTransport,
        send_client_reports=True,
        default_integrations=False,
        auto_session_tracking=False,
    )
    ids = []
    for n in range(count):
        try:
            raise ValueError(f"over quota #{n}")
        except ValueError as error:
            ids.append(sentry_sdk.capture_exception(error))
        sentry_sdk.flush(timeout=5)
    # Client reports go out with the next envelope or at flush once due: force the report out.
    client = sentry_sdk.get_client()
    transport = client.transport
    if transport is not None:
        transport._last_client_report_sent = 0
        transport._flush_client_reports(force=True)
    sentry_sdk.flush(timeout=5)
    print(json.dumps({"ids": ids, "sent": SENT, "discarded": DISCARDED}))


if __name__ == "__main__":
    main()
