// The e-wallet of a customer account, with Chromium where a person acts: an
// account registered and activated on the hosted pages tops up its balance
// by card — a 3-D Secure test card, the challenge passed on the hosted
// authentication page in the browser's language —, the top-up credits the
// customer's balance (Stripe's sign: negative is owed to the customer), and
// one of the merchant's PaymentIntents is paid from that balance, which
// drops by its amount. Once in English, once in Simplified Chinese.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// PORTCULLIS_MERCHANT_ID, PORTCULLIS_MAIL_LOG, CHROMIUM_PATH, SCREENSHOT_DIR.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_URL, WORDS, openBrowser, registerAndActivate } from './support/account_pages.mjs';

const SECRET_KEY = process.env.PORTCULLIS_SECRET_KEY;
const TEST_TIMEOUT_MS = 120_000;
const AUTH_ALWAYS = '4000002760003184';
const TOP_UP = 5000;
const SPEND = 1200;

async function api(method, path, params) {
  const init = { method, headers: { Authorization: `Bearer ${SECRET_KEY}` } };
  if (params) {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(params).toString();
  }
  const response = await fetch(`${BASE_URL}${path}`, init);
  const body = await response.json();
  assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

async function customerOf(email) {
  const found = await api('GET', `/v1/customers?email=${encodeURIComponent(email)}`);
  assert.equal(found.data.length, 1, `one customer for ${email}`);
  return found.data[0];
}

async function walletJourney(locale, screenshots) {
  const w = WORDS[locale];
  const email = `wallet-${locale.toLowerCase()}-${Date.now()}@example.com`;
  const browser = await openBrowser(locale);
  try {
    const { page } = browser;
    await registerAndActivate(page, w, locale, email);
    const customer = await customerOf(email);
    assert.equal(customer.balance, 0);

    // Top up by card: the card asks for 3-D Secure, passed in the browser.
    const card = await api('POST', '/v1/payment_methods', {
      type: 'card', 'card[number]': AUTH_ALWAYS, 'card[exp_month]': '12', 'card[exp_year]': '2034', 'card[cvc]': '123',
    });
    const topUp = await api('POST', '/v1/payment_intents', {
      amount: String(TOP_UP), currency: 'usd', customer: customer.id, purpose: 'customer_balance_top_up',
      payment_method: card.id, confirm: 'true', return_url: `${BASE_URL}/account`,
    });
    assert.equal(topUp.status, 'requires_action', JSON.stringify(topUp));
    await page.goto(topUp.next_action.redirect_to_url.url);
    assert.equal(await page.getAttribute('html', 'lang'), locale, 'the challenge speaks the browser language');
    await page.screenshot({ path: join(screenshots, `balance-${locale}-top-up-challenge.png`), fullPage: true });
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/account'),
      page.click('#complete'),
    ]);
    const toppedUp = await api('GET', `/v1/payment_intents/${topUp.id}`);
    assert.equal(toppedUp.status, 'succeeded');
    assert.equal((await api('GET', `/v1/customers/${customer.id}`)).balance, -TOP_UP, 'the wallet is credited');

    // Pay one of the merchant's PaymentIntents from the balance.
    const paid = await api('POST', '/v1/payment_intents', {
      amount: String(SPEND), currency: 'usd', customer: customer.id,
      'payment_method_types[]': 'customer_balance', 'payment_method_data[type]': 'customer_balance', confirm: 'true',
    });
    assert.equal(paid.status, 'succeeded', JSON.stringify(paid));
    assert.equal((await api('GET', `/v1/customers/${customer.id}`)).balance, -(TOP_UP - SPEND), 'the balance drops');
    const moves = await api('GET', `/v1/customers/${customer.id}/balance_transactions`);
    assert.deepEqual(moves.data.map((t) => [t.type, t.amount]), [['payment', SPEND], ['top_up', -TOP_UP]]);

    assert.deepEqual(browser.errors, [], 'no console errors (CSP refusals, script errors)');
  } finally {
    await browser.close();
  }
}

describe('the e-wallet of a customer account', { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let screenshots;
  before(async () => {
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
  });

  test('top up by card through 3-D Secure, then pay from the balance (English)', { timeout: TEST_TIMEOUT_MS }, async () => {
    await walletJourney('en', screenshots);
  });

  test('the same in Simplified Chinese', { timeout: TEST_TIMEOUT_MS }, async () => {
    await walletJourney('zh-CN', screenshots);
  });
});
