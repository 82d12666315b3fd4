import { cartTotal } from "./cart.js";

// Charges a cart; a cart with nothing to charge is a bug in the caller.
export function checkout(lines) {
  const total = cartTotal(lines);
  if (total <= 0) {
    throw new Error(`checkout: nothing to charge (total ${total})`);
  }
  return { charged: total };
}
