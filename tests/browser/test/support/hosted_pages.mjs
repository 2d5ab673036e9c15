// What the browser tests of the hosted pages (checkout, wallets) share: the
// gateway under test and its API, the browser's settings, a stand-in for
// the merchant's server, and the accessibility check.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// CHROMIUM_PATH (default /usr/bin/chromium).

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import AxeBuilder from '@axe-core/playwright';

export const BASE_URL = process.env.PORTCULLIS_URL;
export const SECRET_KEY = process.env.PORTCULLIS_SECRET_KEY;
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const TEST_TIMEOUT_MS = 120_000;
export const NAVIGATION_TIMEOUT_MS = 30_000;
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Calls the gateway's API with the merchant's secret key; fails the test on an error answer. */
export async function gateway(method, path, params) {
  const response = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${SECRET_KEY}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: params ? new URLSearchParams(params).toString() : undefined,
  });
  const body = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${JSON.stringify(body)}`);
  return body;
}

/** The merchant's server: the pages payments return to and its webhooks, every request recorded. */
export function startReceiver() {
  const received = [];
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    received.push({ method: request.method, url: request.url, headers: request.headers, body });
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><html lang="en"><title>Shop</title><h1>Thank you</h1></html>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, received, base: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

/** axe-core finds no serious or critical violation on `page`. */
export async function expectNoSeriousViolations(page, what) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `axe on ${what}`,
  );
}
