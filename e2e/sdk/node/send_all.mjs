// Sends one of everything with the real Node Sentry SDK (@sentry/node, npm) to SENTRY_DSN.
//
// Env: SENTRY_DSN (required), E2E_RUN (run tag, the `e2e.run` tag on every event),
// SENTRY_NODE_DIR (where infra/install-e2e-sdks.sh installed @sentry/node; default
// ${ERRORWATCH_E2E_DIR:-~/.cache/errorwatch/e2e}/node). The SDK lives outside the repo, so it is
// loaded with createRequire from that folder (its CommonJS build; the API is the same).
//
// Sends: a handled Error with a TypeError `cause` (after a breadcrumb, tags `e2e.run` and
// `sdk`=node, a user and an `e2e` context were set) with a `report.txt` attachment on its scope;
// a message; a message over 32 KiB (gzipped by the transport); a span tree (one root, two children); user feedback (captureFeedback); a cron
// check-in pair (in_progress, ok); the release-health session; and an UNHANDLED Error with a
// RangeError cause thrown in a child process (this script with --unhandled), reported by the
// SDK's onUncaughtException integration, which then exits 1.
//
// Prints a JSON summary on stdout (ids the SDK returned; per envelope the item types and the
// HTTP status; per request the content-encoding) and exits 1 when any envelope failed.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { checkout, connect, sleep } from '../js/errors.mjs';
import { recordingTransport } from '../js/recording.mjs';

const sdkDir =
  process.env.SENTRY_NODE_DIR ||
  path.join(process.env.ERRORWATCH_E2E_DIR || path.join(os.homedir(), '.cache/errorwatch/e2e'), 'node');
const require = createRequire(path.join(sdkDir, 'package.json'));
const Sentry = require('@sentry/node');

const RELEASE = 'e2e@1.0.0';
const ENVIRONMENT = 'e2e';
const ENVELOPES = []; // per envelope: item types and the status the transport saw
const REQUESTS = []; // per HTTP request: what went on the wire

/// node:http / node:https with a tap on each request's headers and response status.
function recordingHttpModule(inner) {
  return {
    request(options, callback) {
      const record = {
        content_encoding: options.headers?.['content-encoding'] ?? null,
        content_type: options.headers?.['content-type'] ?? null,
        path: options.path,
      };
      const req = inner.request(options, (res) => {
        record.status = res.statusCode;
        REQUESTS.push(record);
        callback(res);
      });
      req.on('error', (error) => REQUESTS.push({ ...record, error: String(error) }));
      return req;
    },
  };
}

/// The SDK's own Node transport, recording every envelope's item types and outcome.
function nodeTransport(options) {
  const httpModule = recordingHttpModule(options.url.startsWith('https:') ? https : http);
  return recordingTransport(Sentry.makeNodeTransport({ ...options, httpModule }), ENVELOPES);
}

function init() {
  const dsn = process.env.SENTRY_DSN;
  if (!dsn) {
    console.error('SENTRY_DSN is not set');
    process.exit(2);
  }
  Sentry.init({
    dsn,
    release: RELEASE,
    environment: ENVIRONMENT,
    tracesSampleRate: 1,
    sendDefaultPii: true,
    debug: false,
    transport: nodeTransport,
  });
  const run = process.env.E2E_RUN || 'manual';
  Sentry.setTag('e2e.run', run);
  Sentry.setTag('sdk', 'node');
  Sentry.setUser({ id: 'user-42', email: 'e2e@example.com', username: 'e2e' });
  Sentry.setContext('e2e', { run, program: 'send_all.mjs', pid: process.pid });
  return run;
}


function unhandledChild() {
  init();
  Sentry.addBreadcrumb({ category: 'e2e', message: 'before the unhandled error', level: 'info', data: { step: 9 } });
  const reportPath = process.env.E2E_CHILD_REPORT;
  process.on('exit', () => {
    fs.writeFileSync(
      reportPath,
      JSON.stringify({ event_id: Sentry.lastEventId() ?? null, envelopes: ENVELOPES, requests: REQUESTS }),
    );
  });
  setTimeout(() => connect({}), 10);
}

async function main() {
  const run = init();
  const ids = {};

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
  ids.message = Sentry.captureMessage('e2e node message', 'warning');

  // A message over 32 KiB, which the transport gzips (chunked + content-encoding: gzip).
  Sentry.withScope((scope) => {
    scope.setContext('padding', { text: 'lorem ipsum dolor sit amet '.repeat(1600) });
    ids.large = Sentry.captureMessage('e2e node large message', 'info');
  });

  // A span tree.
  await Sentry.startSpan({ name: 'e2e node transaction', op: 'e2e.task' }, async (root) => {
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

  // A cron check-in pair.
  const monitorConfig = {
    schedule: { type: 'crontab', value: '0 3 * * *' },
    checkinMargin: 5,
    maxRuntime: 10,
    timezone: 'UTC',
  };
  ids.check_in = Sentry.captureCheckIn({ monitorSlug: 'e2e-nightly', status: 'in_progress' }, monitorConfig);
  Sentry.captureCheckIn({ checkInId: ids.check_in, monitorSlug: 'e2e-nightly', status: 'ok', duration: 0.5 });

  // The release-health session (started by the SDK at init because a release is set).
  Sentry.endSession();

  const flushed = await Sentry.flush(10000);

  // The unhandled error, in a child process.
  const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-node-'));
  const reportPath = path.join(reportDir, 'child.json');
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--unhandled'], {
    env: { ...process.env, E2E_CHILD_REPORT: reportPath },
    encoding: 'utf8',
    timeout: 60000,
  });
  const childReport = fs.existsSync(reportPath) ? JSON.parse(fs.readFileSync(reportPath, 'utf8')) : {};
  fs.rmSync(reportDir, { recursive: true, force: true });
  ids.unhandled = childReport.event_id ?? null;

  const problems = [];
  if (!flushed) problems.push('Sentry.flush timed out');
  for (const name of ['handled', 'message', 'large', 'unhandled', 'feedback']) {
    if (!ids[name]) problems.push(`no event id for ${name}`);
  }
  for (const [label, envelopes] of [
    ['parent', ENVELOPES],
    ['child', childReport.envelopes ?? []],
  ]) {
    if (envelopes.length === 0) problems.push(`${label}: the transport sent nothing`);
    for (const envelope of envelopes) {
      if (!(envelope.status >= 200 && envelope.status < 300)) {
        problems.push(`${label}: ${envelope.error ?? `HTTP ${envelope.status}`} for items ${envelope.items}`);
      }
    }
  }
  if (child.status !== 1 || !String(child.stderr).includes('unhandled e2e crash')) {
    problems.push(`child exited ${child.status}, expected 1 with the error; stderr: ${String(child.stderr).slice(-2000)}`);
  }

  const summary = {
    sdk: 'sentry.javascript.node',
    version: Sentry.SDK_VERSION,
    node: process.version,
    run,
    ids,
    envelopes: ENVELOPES,
    requests: REQUESTS,
    child_envelopes: childReport.envelopes ?? [],
    child_requests: childReport.requests ?? [],
    child_exit_code: child.status,
    problems,
  };
  console.log(JSON.stringify(summary, null, 2));
  process.exitCode = problems.length ? 1 : 0;
}

if (process.argv[2] === '--unhandled') {
  unhandledChild();
} else {
  await main();
}
