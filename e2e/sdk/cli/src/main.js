// The entry point sentry-cli's fixture bundle is built from: it throws on an empty cart.
import { checkout } from "./checkout.js";

export function run() {
  return checkout([]);
}

run();
