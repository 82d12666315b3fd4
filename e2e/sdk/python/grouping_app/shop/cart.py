"""Cart and checkout. Every function here is a bug site for one grouping case."""

import json

RATES = {"SAVE10": 10, "SAVE25": 25}


class PaymentDeclinedError(Exception):
    """The payment provider refused the charge."""


def parse_quantity(raw):
    # ValueError for anything that is not an integer.
    return int(raw)


def add_item(cart, sku, raw_quantity):
    cart[sku] = cart.get(sku, 0) + parse_quantity(raw_quantity)
    return cart


def update_item(cart, sku, raw_quantity):
    cart[sku] = parse_quantity(raw_quantity)
    return cart


def discount_per_item(code, n_items):
    # KeyError for an unknown code, ZeroDivisionError for an empty cart: one line, two bugs.
    return RATES[code] / n_items


def charge(order_id, amount_cents, card):
    if card.get("declined"):
        raise PaymentDeclinedError(f"payment of {amount_cents} cents for order {order_id} declined")
    return {"order": order_id, "charged": amount_cents}


def checkout(order_id, cart, card):
    amount_cents = sum(cart.values()) * 1250
    return charge(order_id, amount_cents, card)


def load_order(raw):
    # json.JSONDecodeError from the standard library (a different path per interpreter).
    return json.loads(raw)["order"]
