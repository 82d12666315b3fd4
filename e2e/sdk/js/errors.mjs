// The errors the JavaScript SDK programs (e2e/sdk/node/send_all.mjs, e2e/sdk/browser/send_all.mjs)
// send: each an Error with a `cause`, thrown from two frames of ours, so the server sees a chain
// of two exceptions with stack frames.

export function loadPrice(cart) {
  if (cart.price === undefined) {
    throw new TypeError('price missing');
  }
  return cart.price;
}

export function checkout(cart) {
  try {
    return loadPrice(cart);
  } catch (cause) {
    throw new Error('checkout failed', { cause });
  }
}

export function loadConfig(config) {
  if (!config.databaseUrl) {
    throw new RangeError('no database_url');
  }
  return config.databaseUrl;
}

export function connect(config) {
  try {
    return loadConfig(config);
  } catch (cause) {
    throw new Error('unhandled e2e crash', { cause });
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
