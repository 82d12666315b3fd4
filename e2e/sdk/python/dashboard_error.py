"""Sends one handled error with breadcrumbs and a small JSON attachment through the real
sentry-sdk (e2e/tests/dashboard.rs).

Usage: python dashboard_error.py DSN KIND, where KIND is `card` (a ValueError raised in
`charge_card`) or `stock` (a KeyError raised in `reserve_stock`): two different issues.
"""

import sys

import sentry_sdk


def charge_card(amount):
    attempts = 3
    method = "card"
    raise ValueError(f"{method} declined for {amount} after {attempts} attempts")


def reserve_stock(sku):
    stock = {"sku-1": 4}
    return stock[sku]


def checkout_cart(kind):
    if kind == "card":
        charge_card(42)
    else:
        reserve_stock("sku-42")


def main():
    dsn, kind = sys.argv[1], sys.argv[2]
    sentry_sdk.init(dsn=dsn, release="shop@1.0.0", environment="e2e", send_default_pii=True)
    sentry_sdk.set_user({"id": "u-7", "email": "buyer@example.com"})
    sentry_sdk.add_breadcrumb(category="cart", message="added sku-42 to the cart", level="info")
    sentry_sdk.add_breadcrumb(category="checkout", message="started checkout", level="info")
    sentry_sdk.get_current_scope().add_attachment(
        bytes=b'{"cart": ["sku-42"]}', filename="cart.json", content_type="application/json"
    )
    try:
        checkout_cart(kind)
    except Exception:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(10)


if __name__ == "__main__":
    main()
