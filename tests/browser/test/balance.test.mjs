// The e-wallet of a customer account, with Chromium where a person acts: an
// account registered and activated on the hosted pages tops up its balance
// by card — a 3-D Secure test card, the challenge passed on the hosted
// authentication page in the browser's language —, the top-up credits the
// customer's balance (Stripe's sign: negative is owed to the customer), and
// one of the merchant's PaymentIntents is paid from that balance, which
// drops by its amount. Above `accounts_balance_step_up_above` (run.sh sets
// 1500) a payment waits for the holder on the hosted step-up page: a passkey
// (Chromium's virtual authenticator) pays it and lands on the shop's
// return_url with redirect_status=succeeded; "Cancel payment" fails it
// (redirect_status=failed, balance unchanged); the password pays another,
// and a 6-digit code emailed to the holder (read from the SMTP sink) another,
// after a wrong code is refused. Signed out, the step-up page sends the holder
// to sign in, and a passkey sign-in comes back to it (its return_to).
// axe-core finds no serious or critical violation on the step-up page.
// Once in English, once in Simplified Chinese.
//
// Then the hosted pages do it: the top-up page (/account/top_up) tops up by
// a 3-D Secure card through the checkout page, and a Checkout Session that
// offers customer_balance is paid from the balance after signing in from
// the checkout page — a browser the account never used, so the holder steps
// up on the way with an emailed code, which makes the browser known: the
// next session pays at once — and refused, announced, when the balance is
// too small. axe-core finds no serious or critical violation on those pages.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// PORTCULLIS_MERCHANT_ID, PORTCULLIS_MAIL_LOG, CHROMIUM_PATH, SCREENSHOT_DIR.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import AxeBuilder from '@axe-core/playwright';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE_URL, PASSWORD, WORDS, addAuthenticator, emailedCode, openBrowser, registerAndActivate, signIn,
} from './support/account_pages.mjs';

const SECRET_KEY = process.env.PORTCULLIS_SECRET_KEY;
const TEST_TIMEOUT_MS = 120_000;
const AUTH_ALWAYS = '4000002760003184';
const TOP_UP = 9000;
const SPEND = 1200;
/** Above run.sh's accounts_balance_step_up_above (1500). */
const LARGE = 1600;

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

/** The shop's own page, where a payment's return_url brings the browser. */
async function startShop() {
  const server = createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><html lang="en"><title>Shop</title><h1>Thank you</h1></html>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/done`, close: () => server.close() };
}

async function payLarge(customer, returnUrl) {
  const intent = await api('POST', '/v1/payment_intents', {
    amount: String(LARGE), currency: 'usd', customer, description: 'Tea set', return_url: returnUrl,
    'payment_method_types[]': 'customer_balance', 'payment_method_data[type]': 'customer_balance', confirm: 'true',
  });
  assert.equal(intent.status, 'requires_action', JSON.stringify(intent));
  assert.equal(intent.next_action.redirect_to_url.url, `${BASE_URL}/account/step_up?payment_intent=${intent.id}`);
  return intent;
}

/** Waits for the shop's return page with `status`, and checks Stripe's parameters. */
async function backAtShop(page, intent, status) {
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('payment_intent'), intent.id);
  assert.equal(url.searchParams.get('payment_intent_client_secret'), intent.client_secret);
  assert.equal(url.searchParams.get('redirect_status'), status);
}

async function noSeriousAxeViolation(page, what) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.help}`), [], `axe on ${what}`);
}

/** Pays above the threshold through the hosted step-up page: passkey, cancel, password. */
async function stepUpJourney(browser, w, locale, { customer, email, shop, screenshots }) {
  const { page, context } = browser;
  const balance = async () => (await api('GET', `/v1/customers/${customer}`)).balance;
  const atShop = (status) => (url) => url.href.startsWith(shop.url) && url.searchParams.get('redirect_status') === status;
  await addAuthenticator(context, page);
  await signIn(page, w, email, PASSWORD);
  await page.waitForURL(`${BASE_URL}/account`);
  await page.getByLabel(w.passkeyName, { exact: true }).fill('Phone');
  await page.getByRole('button', { name: w.addPasskey }).click();
  await page.getByRole('status').filter({ hasText: w.passkeyAdded }).waitFor();
  const before = await balance();

  // The passkey pays it and the browser lands on the shop's return_url.
  const intent = await payLarge(customer, shop.url);
  await page.goto(intent.next_action.redirect_to_url.url);
  assert.equal(await page.getAttribute('html', 'lang'), locale);
  await page.getByRole('heading', { name: w.payTitle }).waitFor();
  assert.equal(await page.locator('#pay-amount').textContent(), w.dollars(LARGE));
  assert.equal(await page.locator('#pay-description').textContent(), 'Tea set');
  await noSeriousAxeViolation(page, `the step-up page (${locale})`);
  await page.screenshot({ path: join(screenshots, `balance-${locale}-step-up.png`), fullPage: true });
  await Promise.all([
    page.waitForURL(atShop('succeeded')),
    page.getByRole('button', { name: w.stepUp, exact: true }).click(),
  ]);
  await backAtShop(page, intent, 'succeeded');
  assert.equal((await api('GET', `/v1/payment_intents/${intent.id}`)).status, 'succeeded');
  assert.equal(await balance(), before + LARGE, 'the balance drops');

  // "Cancel payment": failed, the balance unchanged.
  const canceled = await payLarge(customer, shop.url);
  await page.goto(canceled.next_action.redirect_to_url.url);
  await Promise.all([
    page.waitForURL(atShop('failed')),
    page.getByRole('button', { name: w.cancelPayment }).click(),
  ]);
  await backAtShop(page, canceled, 'failed');
  const failed = await api('GET', `/v1/payment_intents/${canceled.id}`);
  assert.equal(failed.status, 'requires_payment_method');
  assert.equal(failed.last_payment_error.code, 'payment_intent_authentication_failure');
  assert.equal(await balance(), before + LARGE, 'nothing debited');

  // The account password pays another.
  const byPassword = await payLarge(customer, shop.url);
  await page.goto(byPassword.next_action.redirect_to_url.url);
  await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
  await Promise.all([
    page.waitForURL(atShop('succeeded')),
    page.getByRole('button', { name: w.payWithPassword }).click(),
  ]);
  await backAtShop(page, byPassword, 'succeeded');
  assert.equal(await balance(), before + 2 * LARGE);

  await payByEmailedCode(page, w, { customer, email, shop });
  assert.equal(await balance(), before + 3 * LARGE);

  // Signed out: the page sends the holder to sign in; a passkey sign-in comes back to it.
  const afterSignIn = await payLarge(customer, shop.url);
  await page.goto(`${BASE_URL}/account`);
  await page.getByRole('button', { name: w.signOut, exact: true }).click();
  await page.goto(afterSignIn.next_action.redirect_to_url.url);
  await Promise.all([page.waitForURL((url) => url.pathname === '/account/login'), page.click('#to-login')]);
  await Promise.all([
    page.waitForURL(afterSignIn.next_action.redirect_to_url.url),
    page.getByRole('button', { name: w.passkeySignIn }).click(),
  ]);
  await page.getByRole('heading', { name: w.payTitle }).waitFor();
  await Promise.all([
    page.waitForURL(atShop('succeeded')),
    page.getByRole('button', { name: w.stepUp, exact: true }).click(),
  ]);
  await backAtShop(page, afterSignIn, 'succeeded');
  assert.equal(await balance(), before + 4 * LARGE);
}

/** On the step-up page: "Email me a code"; the `nth` code sent to `email`. */
async function sendCode(page, w, email, nth) {
  await page.getByRole('button', { name: w.payCodeSend }).click();
  await page.getByRole('status').filter({ hasText: w.payCodeSent }).waitFor();
  return emailedCode(email, nth);
}

/** A code emailed to the holder pays one, after a wrong code is refused. */
async function payByEmailedCode(page, w, { customer, email, shop }) {
  const intent = await payLarge(customer, shop.url);
  await page.goto(intent.next_action.redirect_to_url.url);
  const code = await sendCode(page, w, email, 1);
  const wrong = code === '000000' ? '111111' : '000000';
  await page.getByLabel(w.payCode, { exact: true }).fill(wrong);
  await page.getByRole('button', { name: w.payCodeSubmit }).click();
  await page.locator('#error').waitFor();
  assert.equal(await page.getAttribute('#code', 'aria-invalid'), 'true');
  assert.equal((await api('GET', `/v1/payment_intents/${intent.id}`)).status, 'requires_action');
  await page.getByLabel(w.payCode, { exact: true }).fill(code);
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(shop.url) && url.searchParams.get('redirect_status') === 'succeeded'),
    page.getByRole('button', { name: w.payCodeSubmit }).click(),
  ]);
  await backAtShop(page, intent, 'succeeded');
}

async function walletJourney(locale, screenshots, shop) {
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

    await stepUpJourney(browser, w, locale, { customer: customer.id, email, shop, screenshots });

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
    // A browser the account never used: the holder steps up on the way
    // (an emailed code), and lands on success_url.
    await page.getByRole('button', { name: p.payFromBalance, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account/step_up');
    const waiting = new URL(page.url()).searchParams.get('payment_intent');
    const intent = await api('GET', `/v1/payment_intents/${waiting}`);
    assert.equal(intent.balance_step_up.reason, 'new_device', JSON.stringify(intent));
    const code = await sendCode(page, w, email, 1);
    await page.getByLabel(w.payCode, { exact: true }).fill(code);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/account'),
      page.getByRole('button', { name: w.payCodeSubmit }).click(),
    ]);
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

    // The emailed code made this browser known: the next one pays at once.
    const small = await balanceSession(customer, 1000);
    await page.goto(small.url);
    await page.locator('#balance-held').filter({ hasText: p.left }).waitFor();
    await page.getByRole('button', { name: p.payFromBalance, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account');
    assert.equal((await api('GET', `/v1/checkout/sessions/${small.id}`)).status, 'complete');
    assert.equal((await api('GET', `/v1/customers/${customer.id}`)).balance, -2500, 'paid without a step-up');

    assert.deepEqual(browser.errors, [], 'no console errors (CSP refusals, script errors)');
  } finally {
    await browser.close();
  }
}

describe('the e-wallet of a customer account', { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let screenshots;
  let shop;
  before(async () => {
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
    shop = await startShop();
  });
  after(() => shop.close());

  test('top up by card, pay from the balance, and with a passkey step-up (English)', { timeout: TEST_TIMEOUT_MS }, async () => {
    await walletJourney('en', screenshots, shop);
  });

  test('the same in Simplified Chinese', { timeout: TEST_TIMEOUT_MS }, async () => {
    await walletJourney('zh-CN', screenshots, shop);
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
