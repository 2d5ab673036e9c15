// The hosted checkout page in headless Chromium, in English and Simplified
// Chinese: a customer types a card (found by the fields' accessible
// names), sees the brand and inline errors, and pays — a succeeding card,
// a declined card (shown, then retried), a 3-D Secure card (challenge, then
// back to the flow) — and lands on the merchant's success_url with the
// session's id in it. The merchant's server (a test receiver: success and
// cancel pages, webhook endpoint) and every request the browser makes are
// checked: the card number never leaves the browser except inside the JWE.
// axe-core finds no serious or critical violation on the page.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// CHROMIUM_PATH, SCREENSHOT_DIR.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  BASE_URL,
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  NAVIGATION_TIMEOUT_MS,
  SECRET_KEY,
  TEST_TIMEOUT_MS,
  expectNoSeriousViolations,
  gateway,
  startReceiver,
} from './support/hosted_pages.mjs';

const WEBHOOK_WAIT_MS = 30_000;

const CARDS = {
  visa: '4242424242424242',
  declined: '4000000000000002',
  threeDs: '4000002760003184',
};
const EVERY_CARD = Object.values(CARDS);

// What each language calls things: the exact accessible names the issue
// gives, and the words the tests wait for.
const LANGUAGES = {
  en: {
    number: 'Card number',
    expiry: 'Expiry date',
    cvc: 'CVC',
    name: 'Cardholder name',
    pay: 'Pay',
    total: '$50.50',
    declined: 'Your card was declined. Try another card.',
    numberInvalid: 'Your card number is invalid.',
    expiryPast: "Your card's expiry date is in the past.",
    authenticate: 'Complete authentication',
  },
  'zh-CN': {
    number: '卡号',
    expiry: '有效期',
    cvc: '安全码',
    name: '持卡人姓名',
    pay: '支付',
    total: 'US$50.50',
    declined: '您的银行卡被拒绝，请换一张卡。',
    numberInvalid: '卡号无效。',
    expiryPast: '您的银行卡已过有效期。',
    authenticate: '完成验证',
  },
};

if (!BASE_URL || !SECRET_KEY) {
  throw new Error('PORTCULLIS_URL and PORTCULLIS_SECRET_KEY must be set (run tests/browser/run.sh)');
}

async function createSession(receiver, locale) {
  return gateway('POST', '/v1/checkout/sessions', {
    mode: 'payment',
    success_url: `${receiver.base}/success?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `${receiver.base}/cancel?session_id={CHECKOUT_SESSION_ID}`,
    locale,
    'line_items[0][price_data][currency]': 'usd',
    'line_items[0][price_data][unit_amount]': '2000',
    'line_items[0][price_data][product_data][name]': 'T-shirt',
    'line_items[0][quantity]': '2',
    'line_items[1][price_data][currency]': 'usd',
    'line_items[1][price_data][unit_amount]': '350',
    'line_items[1][price_data][product_data][name]': 'Socks',
    'line_items[1][quantity]': '3',
  });
}

describe('the hosted checkout page', () => {
  let receiver;
  let context;
  let profile;
  let screenshots;
  const browserRequests = [];
  const paidSessions = [];

  before(async () => {
    receiver = await startReceiver();
    await gateway('POST', '/v1/webhook_endpoints', {
      url: `${receiver.base}/webhooks`,
      'enabled_events[]': 'checkout.session.completed',
    });
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 390, height: 844 },
    });
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    context.on('request', (request) => {
      browserRequests.push({ url: request.url(), body: request.postData() || '' });
    });
  });

  after(async () => {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  async function open(locale) {
    const session = await createSession(receiver, locale);
    const page = await context.newPage();
    await page.goto(session.url);
    return { session, page };
  }

  async function typeCard(page, words, number) {
    const field = page.getByLabel(words.number, { exact: true });
    await field.fill('');
    await field.pressSequentially(number);
    await page.getByLabel(words.expiry, { exact: true }).fill('12 / 34');
    await page.getByLabel(words.cvc, { exact: true }).fill('123');
    await page.getByLabel(words.name, { exact: true }).fill('Ada Lovelace');
  }

  async function expectPaid(page, session) {
    await page.waitForURL(`${receiver.base}/success?session_id=${session.id}`);
    const after = await gateway('GET', `/v1/checkout/sessions/${session.id}`);
    assert.equal(after.status, 'complete');
    assert.equal(after.payment_status, 'paid');
    paidSessions.push(session.id);
  }

  for (const [locale, words] of Object.entries(LANGUAGES)) {
    test(`${locale}: the page is accessible and checks the card as it is typed`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { page } = await open(locale);
      assert.equal(await page.getAttribute('html', 'lang'), locale);
      assert.equal(await page.locator('#total').textContent(), words.total);
      await expectNoSeriousViolations(page, `the ${locale} checkout page`);

      const number = page.getByLabel(words.number, { exact: true });
      await number.pressSequentially('4242424242424241');
      assert.equal(await page.locator('#card-brand').textContent(), 'Visa', 'brand detected while typing');
      assert.equal(await number.inputValue(), '4242 4242 4242 4241');
      await page.getByLabel(words.expiry, { exact: true }).fill('01 / 20');
      await page.getByRole('button', { name: words.pay, exact: true }).click();
      await page.locator('#card-number-error').getByText(words.numberInvalid).waitFor();
      await page.locator('#card-expiry-error').getByText(words.expiryPast).waitFor();
      assert.equal(await number.getAttribute('aria-invalid'), 'true');
      const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
      assert.equal(focused, 'card-number', 'focus moves to the first error');
      await expectNoSeriousViolations(page, `the ${locale} page showing errors`);
      await page.screenshot({ path: join(screenshots, `checkout-${locale}-inline-errors.png`), fullPage: true });
      await page.close();
    });

    test(`${locale}: a succeeding card pays and returns to success_url`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { session, page } = await open(locale);
      await typeCard(page, words, CARDS.visa);
      await page.screenshot({ path: join(screenshots, `checkout-${locale}-filled.png`), fullPage: true });
      await page.getByRole('button', { name: words.pay, exact: true }).click();
      await expectPaid(page, session);
      await page.close();
    });

    test(`${locale}: a declined card is shown and the customer retries`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { session, page } = await open(locale);
      await typeCard(page, words, CARDS.declined);
      await page.getByRole('button', { name: words.pay, exact: true }).click();
      await page.getByRole('alert').getByText(words.declined).waitFor();
      await page.screenshot({ path: join(screenshots, `checkout-${locale}-declined.png`), fullPage: true });
      const still = await gateway('GET', `/v1/checkout/sessions/${session.id}`);
      assert.equal(still.status, 'open');
      await typeCard(page, words, CARDS.visa);
      await page.getByRole('button', { name: words.pay, exact: true }).click();
      await expectPaid(page, session);
      await page.close();
    });

    test(`${locale}: a 3-D Secure card is challenged, then paid`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { session, page } = await open(locale);
      await typeCard(page, words, CARDS.threeDs);
      await page.getByRole('button', { name: words.pay, exact: true }).click();
      await page.waitForURL(/\/authenticate\/pi_/);
      // The challenge speaks the checkout page's language.
      assert.equal(await page.locator('html').getAttribute('lang'), locale);
      await expectNoSeriousViolations(page, `the ${locale} 3-D Secure challenge`);
      await page.screenshot({ path: join(screenshots, `checkout-${locale}-3ds.png`), fullPage: true });
      await page.getByRole('button', { name: words.authenticate, exact: true }).click();
      await expectPaid(page, session);
      await page.close();
    });
  }

  test('the language can be switched, and cancel returns to cancel_url', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { session, page } = await open('auto');
    await page.getByRole('link', { name: '简体中文' }).click();
    await page.getByLabel('卡号', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'English' }).click();
    await page.getByLabel('Card number', { exact: true }).waitFor();
    await page.getByRole('link', { name: /Back to the merchant/ }).click();
    await page.waitForURL(`${receiver.base}/cancel?session_id=${session.id}`);
    await page.close();
  });

  test('a paid session shows a clear page', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(paidSessions.length > 0, 'earlier tests paid sessions');
    const page = await context.newPage();
    await page.goto(`${BASE_URL}/checkout/${paidSessions[0]}`);
    await page.getByRole('heading', { name: /paid|已付款/ }).waitFor();
    assert.equal(await page.getByLabel('Card number', { exact: true }).count(), 0);
    await expectNoSeriousViolations(page, 'the closed page');
    await page.screenshot({ path: join(screenshots, 'checkout-closed.png'), fullPage: true });
    await page.close();
  });

  test('the card number left the browser only inside the JWE; the merchant never saw it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const payments = browserRequests.filter((r) => /\/checkout\/cs_[\w]+\/pay$/.test(r.url));
    assert.ok(payments.length >= 8, `the page posted payments (${payments.length})`);
    for (const payment of payments) {
      const fields = new URLSearchParams(payment.body);
      assert.deepEqual([...fields.keys()].sort(), ['encrypted', 'locale', 'name']);
      assert.match(fields.get('encrypted'), /^[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);
    }
    for (const request of browserRequests) {
      const seen = `${request.url}\n${request.body}`;
      for (const number of EVERY_CARD) {
        assert.ok(!seen.includes(number), `card number in a request to ${request.url}`);
      }
      assert.ok(!/(^|[&?])cvc=|"cvc"/.test(seen), `a CVC in the clear in a request to ${request.url}`);
    }
    // Every completed session is announced to the merchant's webhook.
    const deadline = Date.now() + WEBHOOK_WAIT_MS;
    let announced = new Set();
    while (Date.now() < deadline) {
      announced = new Set(
        receiver.received
          .filter((r) => r.url === '/webhooks')
          .map((r) => JSON.parse(r.body))
          .filter((event) => event.type === 'checkout.session.completed')
          .map((event) => event.data.object.id),
      );
      if (paidSessions.every((id) => announced.has(id))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.deepEqual(paidSessions.filter((id) => !announced.has(id)), [], 'checkout.session.completed delivered');
    for (const request of receiver.received) {
      const seen = `${request.url}\n${request.body}`;
      for (const number of EVERY_CARD) {
        assert.ok(!seen.includes(number), `card number reached the merchant at ${request.url}`);
      }
      assert.ok(!/(^|[&?])cvc=|"cvc"\s*:\s*"\d/.test(seen), `a CVC reached the merchant at ${request.url}`);
    }
  });
});
