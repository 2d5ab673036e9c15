// The e-wallet of a customer account, with Chromium where a person acts: an
// account registered and activated on the hosted pages tops up its balance
// by card — a 3-D Secure test card, the challenge passed on the hosted
// authentication page in the browser's language —, the top-up credits the
// customer's balance (Stripe's sign: negative is owed to the customer), and
// one of the merchant's PaymentIntents is paid from that balance, which
// drops by its amount. Once in English, once in Simplified Chinese.
//
// Then the hosted pages do it: the top-up page (/account/top_up) tops up by
// a 3-D Secure card through the checkout page, and a Checkout Session that
// offers customer_balance is paid from the balance after signing in from
// the checkout page — and refused, announced, when the balance is too
// small. axe-core finds no serious or critical violation on those pages.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// PORTCULLIS_MERCHANT_ID, PORTCULLIS_MAIL_LOG, CHROMIUM_PATH, SCREENSHOT_DIR.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { BASE_URL, PASSWORD, WORDS, openBrowser, registerAndActivate, signIn } from './support/account_pages.mjs';

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

// The words of the hosted top-up and checkout pages the test acts on.
const PAGES = {
  en: {
    topUp: 'Top up your balance', amount: 'Amount', currency: 'Currency', continue: 'Continue to payment',
    number: 'Card number', expiry: 'Expiry date', cvc: 'CVC', name: 'Cardholder name', pay: 'Pay',
    authenticate: 'Complete authentication', toppedUp: 'your balance is topped up',
    signInToPay: 'Sign in to pay from your balance', available: 'Available balance',
    payFromBalance: 'Pay from balance', notEnough: 'Your balance is not enough',
    held: '$60.00', left: '$35.00',
  },
  'zh-CN': {
    topUp: '余额充值', amount: '金额', currency: '币种', continue: '继续付款',
    number: '卡号', expiry: '有效期', cvc: '安全码', name: '持卡人姓名', pay: '支付',
    authenticate: '完成验证', toppedUp: '您的余额即完成充值',
    signInToPay: '登录以使用余额支付', available: '可用余额',
    payFromBalance: '余额支付', notEnough: '您的余额不足以支付该订单',
    held: 'US$60.00', left: 'US$35.00',
  },
};

async function expectNoSeriousViolations(page, what) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `axe on ${what}`,
  );
}

async function balanceSession(customer, amount) {
  return api('POST', '/v1/checkout/sessions', {
    mode: 'payment', customer: customer.id, success_url: `${BASE_URL}/account`,
    'line_items[0][price_data][currency]': 'usd', 'line_items[0][price_data][unit_amount]': String(amount),
    'line_items[0][price_data][product_data][name]': 'Tea', 'line_items[0][quantity]': '1',
    'payment_method_types[0]': 'card', 'payment_method_types[1]': 'customer_balance',
  });
}

async function hostedWalletJourney(locale, screenshots) {
  const w = WORDS[locale];
  const p = PAGES[locale];
  const email = `hosted-wallet-${locale.toLowerCase()}-${Date.now()}@example.com`;
  const browser = await openBrowser(locale);
  try {
    const { page } = browser;
    await registerAndActivate(page, w, locale, email);
    const customer = await customerOf(email);
    await signIn(page, w, email, PASSWORD);
    await page.waitForURL((url) => url.pathname === '/account');

    // Top up 60.00 on the hosted page, by a 3-D Secure card on the checkout page.
    await page.getByRole('link', { name: p.topUp, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account/top_up');
    assert.equal(await page.getAttribute('html', 'lang'), locale);
    await expectNoSeriousViolations(page, `the ${locale} top-up page`);
    await page.screenshot({ path: join(screenshots, `balance-${locale}-top-up-page.png`), fullPage: true });
    await page.getByLabel(p.amount, { exact: true }).fill('60');
    await page.getByLabel(p.currency, { exact: true }).selectOption('usd');
    await page.getByRole('button', { name: p.continue, exact: true }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/checkout/cs_'));
    await page.getByLabel(p.number, { exact: true }).pressSequentially(AUTH_ALWAYS);
    await page.getByLabel(p.expiry, { exact: true }).fill('12 / 34');
    await page.getByLabel(p.cvc, { exact: true }).fill('123');
    await page.getByLabel(p.name, { exact: true }).fill('Lin Wei');
    await page.getByRole('button', { name: p.pay, exact: true }).click();
    await page.waitForURL(/\/authenticate\/pi_/);
    await page.getByRole('button', { name: p.authenticate, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account');
    await page.getByRole('status').filter({ hasText: p.toppedUp }).waitFor();
    await page.locator('#balances').filter({ hasText: p.held }).waitFor();
    assert.equal((await api('GET', `/v1/customers/${customer.id}`)).balance, -6000, 'the wallet is credited');

    // Signed out, the checkout page offers to sign in, and comes back.
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    const session = await balanceSession(customer, 2500);
    await page.goto(session.url);
    await page.getByRole('link', { name: p.signInToPay, exact: true }).click();
    await page.getByLabel(w.email, { exact: true }).fill(email);
    await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: w.signIn, exact: true }).click();
    await page.waitForURL((url) => url.pathname === `/checkout/${session.id}`);
    await page.locator('#balance-held').filter({ hasText: p.available }).filter({ hasText: p.held }).waitFor();
    await expectNoSeriousViolations(page, `the ${locale} checkout page with the balance`);
    await page.screenshot({ path: join(screenshots, `balance-${locale}-checkout.png`), fullPage: true });
    await page.getByRole('button', { name: p.payFromBalance, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account');
    const paid = await api('GET', `/v1/checkout/sessions/${session.id}`);
    assert.equal(paid.status, 'complete');
    assert.equal(paid.payment_status, 'paid');
    assert.equal((await api('GET', `/v1/customers/${customer.id}`)).balance, -3500, 'the balance drops');

    // Too little left: announced, nothing taken, the card form still there.
    const tooBig = await balanceSession(customer, 5000);
    await page.goto(tooBig.url);
    await page.locator('#balance-held').filter({ hasText: p.left }).waitFor();
    await page.getByRole('alert').filter({ hasText: p.notEnough }).waitFor();
    await page.getByRole('button', { name: p.payFromBalance, exact: true }).click();
    await page.getByRole('alert').filter({ hasText: p.notEnough }).waitFor();
    await expectNoSeriousViolations(page, `the ${locale} checkout page refusing the balance`);
    await page.getByLabel(p.number, { exact: true }).waitFor();
    assert.equal((await api('GET', `/v1/checkout/sessions/${tooBig.id}`)).status, 'open');
    assert.equal((await api('GET', `/v1/customers/${customer.id}`)).balance, -3500, 'nothing taken');

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

describe('the e-wallet on the hosted pages', { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let screenshots;
  before(async () => {
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
  });

  test('top up on the top-up page, then pay a checkout session from the balance (English)', { timeout: TEST_TIMEOUT_MS }, async () => {
    await hostedWalletJourney('en', screenshots);
  });

  test('the same in Simplified Chinese', { timeout: TEST_TIMEOUT_MS }, async () => {
    await hostedWalletJourney('zh-CN', screenshots);
  });
});
