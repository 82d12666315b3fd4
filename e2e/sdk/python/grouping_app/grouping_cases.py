"""Captures the grouping cases with the real Python Sentry SDK (sentry-sdk) into files.

Usage: python grouping_cases.py OUT_DIR VARIANT

Run from the deployed application root (the folder holding this file and `shop/`), as
`e2e/sdk/gen_grouping_fixtures.sh` does for every deploy layout: the SDK marks frames under the
working directory in-app, as in a real deployment. Nothing goes over the network: a transport
writes the event of every envelope to OUT_DIR/<case>.json, the case being the event's
`grouping.case` tag. VARIANT (a, b, ...) picks the ids, release, host and user, so the same bug
captured in two variants differs in everything grouping must ignore.
"""

import json
import logging
import os
import sys

import sentry_sdk
from sentry_sdk.transport import Transport

from shop import cart as shop_cart

# Per variant: what must not split an issue.
VARIANTS = {
    "a": {"release": "shop@41.0.0", "host": "web-1", "user": "1001", "order": 1041, "qty": "three"},
    "b": {"release": "shop@42.3.1", "host": "web-7", "user": "2002", "order": 77, "qty": "lots"},
}


class FileTransport(Transport):
    """Writes the event of each envelope to OUT_DIR/<case>.json instead of sending it."""

    def __init__(self, options=None):
        super().__init__(options)
        self.out_dir = os.environ["GROUPING_OUT_DIR"]

    def capture_envelope(self, envelope):
        event = envelope.get_event()
        if event is None:
            return
        case = (event.get("tags") or {}).get("grouping.case", "unknown")
        with open(os.path.join(self.out_dir, f"{case}.json"), "w", encoding="utf-8") as out:
            json.dump(event, out)

    def flush(self, timeout, callback=None):
        return None


def capture(case, fn, *args):
    """Calls `fn(*args)` and reports what it raises as the event of `case`. Every case goes
    through this one line, so the cases differ only in the application's own frames."""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("grouping.case", case)
        try:
            fn(*args)
        except Exception as error:  # noqa: BLE001 - every failure is the point here
            sentry_sdk.capture_exception(error)


def main():
    out_dir, variant = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    os.environ["GROUPING_OUT_DIR"] = out_dir
    v = VARIANTS[variant]
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        release=v["release"],
        environment="production",
        server_name=v["host"],
        transport=FileTransport,
        default_integrations=True,
    )
    sentry_sdk.set_user({"id": v["user"], "email": f"user{v['user']}@example.com"})
    order = v["order"]
    declined = {"declined": True}
    items = {"sku-1": 2, "sku-2": order % 5}

    capture("checkout_declined", shop_cart.checkout, order, items, declined)
    capture("discount_unknown_code", shop_cart.discount_per_item, f"SPRING{order}", 3)
    capture("discount_no_items", shop_cart.discount_per_item, "SAVE10", 0)
    capture("quantity_add", shop_cart.add_item, {}, "sku-1", v["qty"])
    capture("quantity_update", shop_cart.update_item, {"sku-1": 1}, "sku-1", v["qty"])
    capture("load_order_json", shop_cart.load_order, '{"order": ' + str(order))

    # A log message and a message with the exception's text: never the exception's issue.
    amount = sum(items.values()) * 1250
    text = f"payment of {amount} cents for order {order} declined"
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("grouping.case", "message_declined")
        sentry_sdk.capture_message(text, level="error")
    payments_log = logging.getLogger("shop.payments")
    # The SDK's logging integration reports the record; nothing else needs to print it.
    payments_log.addHandler(logging.NullHandler())
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("grouping.case", "logging_declined")
        payments_log.error(
            "payment of %s cents for order %s declined", amount, order
        )

    sentry_sdk.flush()


if __name__ == "__main__":
    main()
