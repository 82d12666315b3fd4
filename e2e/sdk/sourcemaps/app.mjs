// A minified browser app with @sentry/browser, built twice by esbuild (e2e/tests/
// sourcemaps_browser.rs: `--bundle --minify --sourcemap`, file names with a content hash, and a
// different BUILD each time so the two builds differ), its debug ids injected and its maps
// uploaded by the real sentry-cli. The page `index.html?dsn=…&release=…` checks out an empty
// cart: `checkout` (e2e/sdk/cli/src/checkout.js) throws, the SDK reports the error, and
// `window.__e2eDone` becomes the event id once the SDK has sent it.

import * as Sentry from '@sentry/browser';

import { checkout } from '../cli/src/checkout.js';

const params = new URLSearchParams(window.location.search);

Sentry.init({
  dsn: params.get('dsn'),
  release: params.get('release'),
  environment: 'e2e',
  // Only the error: no session, no breadcrumbs of the page's own logging.
  autoSessionTracking: false,
  sendClientReports: false,
});

// eslint-disable-next-line no-undef
console.info(`build ${BUILD}`);

function buyNothing() {
  return checkout([]);
}

window.__e2eDone = null;
setTimeout(async () => {
  let eventId;
  try {
    buyNothing();
  } catch (error) {
    eventId = Sentry.captureException(error);
  }
  await Sentry.flush(10000);
  window.__e2eDone = eventId;
}, 0);
