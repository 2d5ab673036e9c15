// The hosted authentication page in headless Chromium.
//
// A card that always asks for authentication answers `requires_action` with
// `next_action.redirect_to_url.url`; a customer's browser opens that page,
// passes or fails the challenge, and is sent (303) to the intent's
// `return_url` with `payment_intent`, `payment_intent_client_secret` and
// `redirect_status`. These tests play the customer with Playwright driving
// Debian's Chromium, and play the merchant's site with a tiny local server.
//
// Environment (run.sh sets it):
//   PORTCULLIS_URL         base URL of a running `portcullis serve`
//   PORTCULLIS_SECRET_KEY  a merchant's sk_test_… key
//   CHROMIUM_PATH          the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR         where screenshots go (default: a new temp dir)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.PORTCULLIS_URL;
const SECRET_KEY = process.env.PORTCULLIS_SECRET_KEY;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TEST_TIMEOUT_MS = 90_000;
const NAVIGATION_TIMEOUT_MS = 30_000;

// The flags this machine kind needs: no sandbox as root, no GPU, and no
// background connections to Google's hosts (the network is closed).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const AUTH_ALWAYS = '4000002760003184';
const AUTH_THEN_DECLINE = '4000008260003178';

if (!BASE_URL || !SECRET_KEY) {
  throw new Error('PORTCULLIS_URL and PORTCULLIS_SECRET_KEY must be set (run tests/browser/run.sh)');
}

// --- the API, as a merchant's server calls it ----------------------------------

/** Flattens {a: {b: 1}, c: [x]} into Stripe's bracket form: a[b]=1, c[0]=x. */
function formEncode(params, prefix = '', out = new URLSearchParams()) {
  for (const [key, value] of Object.entries(params)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (value !== null && typeof value === 'object') {
      formEncode(value, name, out);
    } else {
      out.append(name, String(value));
    }
  }
  return out;
}

async function api(method, path, params) {
  const init = {
    method,
    headers: { Authorization: `Bearer ${SECRET_KEY}` },
  };
  if (params) {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = formEncode(params).toString();
  }
  const response = await fetch(`${BASE_URL}${path}`, init);
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(body)}`);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

async function challengedIntent({ number = AUTH_ALWAYS, amount, returnUrl, extra = {} }) {
  const method = await api('POST', '/v1/payment_methods', {
    type: 'card',
    card: { number, exp_month: 12, exp_year: 2034, cvc: '123' },
  });
  const intent = await api('POST', '/v1/payment_intents', {
    amount,
    currency: 'usd',
    payment_method: method.id,
    confirm: true,
    return_url: returnUrl,
    ...extra,
  });
  assert.equal(intent.status, 'requires_action', JSON.stringify(intent));
  assert.equal(intent.next_action?.type, 'redirect_to_url');
  const url = intent.next_action.redirect_to_url.url;
  assert.ok(url, 'next_action.redirect_to_url.url is set');
  assert.ok(url.startsWith(`${BASE_URL}/authenticate/${intent.id}?`), url);
  assert.equal(new URL(url).searchParams.get('client_secret'), intent.client_secret);
  return intent;
}

// --- the merchant's site: where the customer comes back to ---------------------

function startShop() {
  const visits = [];
  const server = createServer((request, response) => {
    visits.push(request.url);
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>Shop</title><h1 id="done">Back at the shop</h1>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ server, visits, base: `http://127.0.0.1:${port}` });
    });
  });
}

// --- the browser ------------------------------------------------------------------

/** A fresh Chromium with an empty profile of its own. */
async function openBrowser() {
  const profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 800, height: 600 },
  });
  context.setDefaultTimeout(NAVIGATION_TIMEOUT_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

// --- the tests --------------------------------------------------------------------

describe('hosted authentication page', () => {
  let shop;
  let screenshots;
  let browser;

  before(async () => {
    shop = await startShop();
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
    console.log(`# screenshots in ${screenshots}`);
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => shop?.server.close(resolve));
  });

  async function freshPage() {
    await browser?.close();
    browser = await openBrowser();
    return browser.page;
  }

  test('completing the challenge succeeds and returns to the shop', { timeout: TEST_TIMEOUT_MS }, async () => {
    const returnUrl = `${shop.base}/done?order=42`;
    const intent = await challengedIntent({ amount: 4321, returnUrl });
    const page = await freshPage();

    const response = await page.goto(intent.next_action.redirect_to_url.url);
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'Authenticate your payment');
    assert.equal((await page.locator('#amount').innerText()).trim(), '$43.21');
    assert.ok(await page.locator('#complete').isVisible());
    assert.ok(await page.locator('#fail').isVisible());
    await page.screenshot({ path: join(screenshots, 'authenticate-challenge.png'), fullPage: true });

    const returns = () => shop.visits.filter((url) => url.startsWith('/done')).length;
    const returnsBefore = returns();
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${shop.base}/done`)),
      page.click('#complete'),
    ]);
    const landed = new URL(page.url());
    assert.equal(landed.pathname, '/done');
    assert.equal(landed.searchParams.get('order'), '42', 'the return_url keeps its own query');
    assert.equal(landed.searchParams.get('payment_intent'), intent.id);
    assert.equal(landed.searchParams.get('payment_intent_client_secret'), intent.client_secret);
    assert.equal(landed.searchParams.get('redirect_status'), 'succeeded');
    assert.equal(await page.locator('#done').innerText(), 'Back at the shop');
    assert.equal(returns(), returnsBefore + 1, 'the browser came back to the shop once');
    await page.screenshot({ path: join(screenshots, 'authenticate-returned.png') });

    const after = await api('GET', `/v1/payment_intents/${intent.id}`);
    assert.equal(after.status, 'succeeded');
    assert.equal(after.amount_received, 4321);
    assert.equal(after.next_action, null);
    assert.ok(after.latest_charge?.startsWith('ch_'));
    const charge = await api('GET', `/v1/charges/${after.latest_charge}`);
    assert.equal(charge.status, 'succeeded');
    assert.equal(charge.amount_captured, 4321);

    // Coming back to the page later shows the result, with nothing to press.
    await page.goto(intent.next_action.redirect_to_url.url);
    assert.equal(await page.locator('#complete').count(), 0);
    assert.match(await page.locator('#result').innerText(), /succeeded/);
  });

  test('failing the challenge returns to the shop and the intent needs a new payment method', { timeout: TEST_TIMEOUT_MS }, async () => {
    const returnUrl = `${shop.base}/done`;
    const intent = await challengedIntent({ amount: 1999, returnUrl });
    const page = await freshPage();

    await page.goto(intent.next_action.redirect_to_url.url);
    assert.equal((await page.locator('#amount').innerText()).trim(), '$19.99');
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${shop.base}/done`)),
      page.click('#fail'),
    ]);
    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get('payment_intent'), intent.id);
    assert.equal(landed.searchParams.get('redirect_status'), 'failed');

    const after = await api('GET', `/v1/payment_intents/${intent.id}`);
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(after.amount_received, 0);
    assert.equal(after.next_action, null);
    assert.equal(after.last_payment_error?.code, 'payment_intent_authentication_failure');
  });

  test('a card that authenticates and then declines comes back failed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const intent = await challengedIntent({
      number: AUTH_THEN_DECLINE,
      amount: 2500,
      returnUrl: `${shop.base}/done`,
    });
    const page = await freshPage();
    await page.goto(intent.next_action.redirect_to_url.url);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${shop.base}/done`)),
      page.click('#complete'),
    ]);
    assert.equal(new URL(page.url()).searchParams.get('redirect_status'), 'failed');

    const after = await api('GET', `/v1/payment_intents/${intent.id}`);
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(after.last_payment_error?.decline_code, 'insufficient_funds');
  });

  test('with manual capture, completing the challenge leaves the intent to capture', { timeout: TEST_TIMEOUT_MS }, async () => {
    const intent = await challengedIntent({
      amount: 5000,
      returnUrl: `${shop.base}/done`,
      extra: { capture_method: 'manual' },
    });
    const page = await freshPage();
    await page.goto(intent.next_action.redirect_to_url.url);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${shop.base}/done`)),
      page.click('#complete'),
    ]);
    assert.equal(new URL(page.url()).searchParams.get('redirect_status'), 'succeeded');

    const held = await api('GET', `/v1/payment_intents/${intent.id}`);
    assert.equal(held.status, 'requires_capture');
    assert.equal(held.amount_capturable, 5000);
    const captured = await api('POST', `/v1/payment_intents/${intent.id}/capture`, { amount_to_capture: 3000 });
    assert.equal(captured.status, 'succeeded');
    assert.equal(captured.amount_received, 3000);
  });

  test('the page refuses a wrong client secret without showing the challenge', { timeout: TEST_TIMEOUT_MS }, async () => {
    const intent = await challengedIntent({ amount: 1000, returnUrl: `${shop.base}/done` });
    const page = await freshPage();
    const wrong = new URL(intent.next_action.redirect_to_url.url);
    wrong.searchParams.set('client_secret', `${intent.id}_secret_wrong`);
    const response = await page.goto(wrong.href);
    assert.equal(response.status(), 404);
    assert.equal(await page.locator('#complete').count(), 0);

    // And a forged POST changes nothing.
    const forged = await fetch(wrong.href, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'outcome=pass',
      redirect: 'manual',
    });
    assert.equal(forged.status, 404);
    const still = await api('GET', `/v1/payment_intents/${intent.id}`);
    assert.equal(still.status, 'requires_action');
  });
});
