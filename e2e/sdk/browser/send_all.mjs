// Sends one of everything the real browser SDK (@sentry/browser, npm) sends, from a page that
// Chromium opens (e2e/tests/sdks.rs bundles this file with esbuild into an IIFE and serves it
// with index.html on 127.0.0.1). The DSN and the run tag come from the page's query string:
// `index.html?dsn=…&run=…`.
//
// Sends: a handled Error with a TypeError `cause` (after a breadcrumb, tags `e2e.run` and
// `sdk`=browser, a user and an `e2e` context were set) with a `report.txt` attachment on its
// scope; a message; a span tree (one root, two children); user feedback (captureFeedback); the
// release-health session the SDK starts at page load; and an UNHANDLED Error with a RangeError
// cause thrown from a timer, reported by the SDK's global error handler. The browser SDK has no
// cron check-ins (`captureCheckIn` is server-only).
//
// When done it sets `window.__e2eSummary`: the ids the SDK returned, per envelope the item
// types, item counts and the HTTP status the transport saw, and the problems it noticed.

import * as Sentry from '@sentry/browser';

import { checkout, connect, sleep } from '../js/errors.mjs';
import { recordingTransport } from '../js/recording.mjs';

const RELEASE = 'e2e@1.0.0';
const ENVIRONMENT = 'e2e';
const ENVELOPES = [];
const params = new URLSearchParams(window.location.search);
const ids = {};

/// The SDK's own fetch transport, recording every envelope's item types and outcome.
function fetchTransport(options) {
  return recordingTransport(Sentry.makeFetchTransport(options), ENVELOPES);
}


async function main() {
  const run = params.get('run') || 'manual';
  Sentry.init({
    dsn: params.get('dsn'),
    release: RELEASE,
    environment: ENVIRONMENT,
    tracesSampleRate: 1,
    sendDefaultPii: true,
    transport: fetchTransport,
    beforeSend(event) {
      const unhandled = (event.exception?.values ?? []).some((v) => v.mechanism?.handled === false);
      if (unhandled) ids.unhandled = event.event_id;
      return event;
    },
  });
  Sentry.setTag('e2e.run', run);
  Sentry.setTag('sdk', 'browser');
  Sentry.setUser({ id: 'user-42', email: 'e2e@example.com', username: 'e2e' });
  Sentry.setContext('e2e', { run, program: 'send_all.mjs' });

  // A handled error with a cause, breadcrumb, tags, user, context and an attachment.
  Sentry.addBreadcrumb({ category: 'e2e', message: 'before the handled error', level: 'info', data: { step: 1 } });
  try {
    checkout({ sku: 'A-1' });
  } catch (error) {
    Sentry.withScope((scope) => {
      scope.addAttachment({ filename: 'report.txt', data: `e2e attachment for run ${run}\n`, contentType: 'text/plain' });
      ids.handled = Sentry.captureException(error);
    });
  }

  // A message.
  Sentry.addBreadcrumb({ category: 'e2e', message: 'before the message', level: 'warning' });
  ids.message = Sentry.captureMessage('e2e browser message', 'warning');

  // A span tree.
  await Sentry.startSpan({ name: 'e2e browser transaction', op: 'e2e.task' }, async (root) => {
    await Sentry.startSpan({ name: 'SELECT 1', op: 'db.query' }, () => sleep(10));
    await Sentry.startSpan({ name: 'GET /price', op: 'http.client' }, () => sleep(10));
    ids.transaction_trace_id = root.spanContext().traceId;
  });

  // User feedback.
  ids.feedback = Sentry.captureFeedback({
    message: 'The checkout button did nothing (e2e feedback).',
    name: 'E2E Tester',
    email: 'e2e@example.com',
    associatedEventId: ids.handled,
  });

  // The unhandled error, from a timer: the SDK's global handler reports it.
  Sentry.addBreadcrumb({ category: 'e2e', message: 'before the unhandled error', level: 'info', data: { step: 9 } });
  setTimeout(() => connect({}), 0);
  for (let i = 0; i < 100 && !ids.unhandled; i++) await sleep(50);

  const flushed = await Sentry.flush(10000);
  const problems = [];
  if (!flushed) problems.push('Sentry.flush timed out');
  for (const name of ['handled', 'message', 'unhandled', 'feedback']) {
    if (!ids[name]) problems.push(`no event id for ${name}`);
  }
  if (ENVELOPES.length === 0) problems.push('the transport sent nothing');
  for (const envelope of ENVELOPES) {
    if (!(envelope.status >= 200 && envelope.status < 300)) {
      problems.push(`${envelope.error ?? `HTTP ${envelope.status}`} for items ${envelope.items}`);
    }
  }
  window.__e2eSummary = {
    sdk: 'sentry.javascript.browser',
    version: Sentry.SDK_VERSION,
    user_agent: navigator.userAgent,
    run,
    ids,
    envelopes: ENVELOPES,
    problems,
  };
}

main().catch((error) => {
  window.__e2eSummary = { ids, envelopes: ENVELOPES, problems: [`the page failed: ${error}`] };
});
