// Cart and checkout. Every function here is a bug site for one grouping case.
'use strict';

const RATES = { SAVE10: 10, SAVE25: 25 };

class PaymentDeclinedError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PaymentDeclinedError';
  }
}

function parseQuantity(raw) {
  const quantity = Number(raw);
  if (!Number.isInteger(quantity)) {
    throw new RangeError(`invalid quantity: ${JSON.stringify(raw)}`);
  }
  return quantity;
}

function addItem(cart, sku, rawQuantity) {
  cart[sku] = (cart[sku] ?? 0) + parseQuantity(rawQuantity);
  return cart;
}

function updateItem(cart, sku, rawQuantity) {
  cart[sku] = parseQuantity(rawQuantity);
  return cart;
}

function discountCode(rawOrder) {
  // SyntaxError for a truncated body, TypeError when it has no discount: one line, two bugs.
  return JSON.parse(rawOrder).discount.code;
}

function charge(orderId, amountCents, card) {
  if (card.declined) {
    throw new PaymentDeclinedError(`payment of ${amountCents} cents for order ${orderId} declined`);
  }
  return { order: orderId, charged: amountCents };
}

function checkout(orderId, cart, card) {
  const amountCents = Object.values(cart).reduce((a, b) => a + b, 0) * 1250;
  return charge(orderId, amountCents, card);
}

module.exports = { RATES, PaymentDeclinedError, addItem, updateItem, discountCode, checkout };
