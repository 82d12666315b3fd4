// Captures the grouping cases with the real Node Sentry SDK (@sentry/node) into files.
//
// Usage: node grouping_cases.cjs OUT_DIR VARIANT
//
// Deployed with `shop/` and a `node_modules` holding @sentry/node, as
// e2e/sdk/gen_grouping_fixtures.sh does for every deploy layout. Nothing goes over the network:
// a transport writes the event of every envelope to OUT_DIR/<case>.json, the case being the
// event's `grouping.case` tag. VARIANT (a, b, ...) picks the ids, release, host and user, so the
// same bug captured in two variants differs in everything grouping must ignore.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const Sentry = require('@sentry/node');
const { parseEnvelope } = require('@sentry/core');

const cart = require('./shop/cart.cjs');

// Per variant: what must not split an issue.
const VARIANTS = {
  a: { release: 'shop@41.0.0', host: 'web-1', user: '1001', order: 1041, qty: 'three' },
  b: { release: 'shop@42.3.1', host: 'web-7', user: '2002', order: 77, qty: 'lots' },
};

const [outDir, variantName] = process.argv.slice(2);
const variant = VARIANTS[variantName];
if (!outDir || !variant) {
  console.error('usage: node grouping_cases.cjs OUT_DIR a|b');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

/// Writes the event of each envelope to OUT_DIR/<case>.json instead of sending it.
function fileTransport(options) {
  return Sentry.createTransport(options, async (request) => {
    const [, items] = parseEnvelope(request.body);
    for (const [header, payload] of items) {
      if (header.type !== 'event') continue;
      const event = typeof payload === 'object' && !(payload instanceof Uint8Array)
        ? payload
        : JSON.parse(Buffer.from(payload).toString('utf8'));
      const name = event.tags?.['grouping.case'] ?? 'unknown';
      fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(event));
    }
    return { statusCode: 200 };
  });
}

Sentry.init({
  dsn: 'http://public@127.0.0.1:9/1',
  release: variant.release,
  environment: 'production',
  serverName: variant.host,
  transport: fileTransport,
});
Sentry.setUser({ id: variant.user, email: `user${variant.user}@example.com` });

/// Calls `fn(...args)` and reports what it throws as the event of `name`. Every case goes
/// through this one line, so the cases differ only in the application's own frames.
function capture(name, fn, ...args) {
  Sentry.withScope((scope) => {
    scope.setTag('grouping.case', name);
    try {
      fn(...args);
    } catch (error) {
      Sentry.captureException(error);
    }
  });
}

/// A message (the SDK attaches a synthetic stack trace to it).
function sendMessage(text) {
  Sentry.captureMessage(text, 'error');
}

const order = variant.order;
const items = { 'sku-1': 2, 'sku-2': order % 5 };
// The message has the exception's text: it must still never join the exception's issue.
const amount = Object.values(items).reduce((a, b) => a + b, 0) * 1250;
const CASES = [
  ['checkout_declined', cart.checkout, order, items, { declined: true }],
  ['discount_bad_json', cart.discountCode, `{"order": ${order}`],
  ['discount_missing', cart.discountCode, `{"order": ${order}}`],
  ['quantity_add', cart.addItem, {}, 'sku-1', variant.qty],
  ['quantity_update', cart.updateItem, { 'sku-1': 1 }, 'sku-1', variant.qty],
  ['message_declined', sendMessage, `payment of ${amount} cents for order ${order} declined`],
];
for (const [name, fn, ...args] of CASES) {
  capture(name, fn, ...args);
}

Sentry.flush(5000).then((flushed) => process.exit(flushed ? 0 : 1));
