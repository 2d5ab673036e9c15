// Alipay and WeChat Pay pages in headless Chromium, against
// `portcullis wallet-sim` (run.sh starts it and passes its credentials):
//
// - the aggregated QR (聚合码, issue 14): an intent listing both wallets,
//   confirmed with payment_method_data[type]=wallet_qr, answers
//   display_qr_code whose data is our page. Opened by Alipay's app
//   (`AlipayClient` in the user agent) it goes to the Alipay wap flow; by
//   WeChat's (`MicroMessenger`) to WeChat Pay H5 (no openid can be had
//   without the merchant's WeChat login); by any other browser it shows
//   the code and both choices, in English or Simplified Chinese. Paying on
//   the simulator's customer page makes the intent succeed.
// - the hosted checkout's wallets (issue 17): a session offering card,
//   Alipay and WeChat Pay; Alipay on a phone follows the redirect, pays on
//   the simulator and comes back to success_url; WeChat Pay on a desktop
//   shows the QR code, paid on the simulator (as the phone would after
//   scanning it); a declined wallet payment says so, in wallet words. axe
//   finds no serious or critical violation on any of these views.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// CHROMIUM_PATH, SCREENSHOT_DIR, WALLET_SIM_URL, WALLET_SIM_ALIPAY,
// WALLET_SIM_WECHAT_PAY (the connector accounts' parameters, JSON).

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

const SIM_URL = process.env.WALLET_SIM_URL;
const SETTLE_WAIT_MS = 30_000;

// The browsers the aggregated page tells apart (real apps' user agents).
const AGENTS = {
  alipay:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) ' +
    'Mobile/15E148 ChannelId(0) Ariver/1.1.0 AliApp(AP/10.5.86.8000) Nebula WK RVKType(0) AlipayDefined ' +
    'AlipayClient/10.5.86.8000 Language/zh-Hans Region/CN',
  wechat:
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 ' +
    'Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) ' +
    'WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64',
  phone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) ' +
    'Version/17.0 Mobile/15E148 Safari/604.1',
  desktop:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
};

const CHOICES = {
  en: { title: 'Choose how to pay', alipay: 'Alipay', wechat: 'WeChat Pay', qr: /QR code/ },
  'zh-CN': { title: '选择支付方式', alipay: '支付宝', wechat: '微信支付', qr: /二维码/ },
};

const CHECKOUT_WORDS = {
  en: {
    alipay: 'Alipay',
    wechat: 'WeChat Pay',
    scan: /Scan this code/,
    declined: /not completed/,
    qrAlt: 'QR code to pay',
  },
  'zh-CN': {
    alipay: '支付宝',
    wechat: '微信支付',
    scan: /扫描/,
    declined: /未完成/,
    qrAlt: '付款二维码',
  },
};

if (!BASE_URL || !SECRET_KEY || !SIM_URL) {
  throw new Error('PORTCULLIS_URL, PORTCULLIS_SECRET_KEY and WALLET_SIM_URL must be set (run tests/browser/run.sh)');
}

/** The connector account's form parameters from the simulator's JSON. */
function accountForm(json) {
  const account = JSON.parse(json);
  const form = { type: account.type, endpoint: account.endpoint };
  for (const [name, value] of Object.entries(account.credentials)) {
    form[`credentials[${name}]`] = value;
  }
  return form;
}

async function waitFor(what, check) {
  const deadline = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    const found = await check();
    if (found) return found;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function intentSucceeds(id) {
  return waitFor(`${id} to succeed`, async () => {
    const intent = await gateway('GET', `/v1/payment_intents/${id}`);
    return intent.status === 'succeeded' ? intent : null;
  });
}

/** The aggregated page's stylesheet is the hosted pages' one, applied. */
async function expectStyled(page) {
  const links = await page.locator('link[rel=stylesheet]').evaluateAll((all) => all.map((l) => l.href));
  assert.deepEqual(links, [`${BASE_URL}/checkout/assets/checkout.css`]);
  const width = await page.locator('main').evaluate((main) => getComputedStyle(main).maxWidth);
  assert.notEqual(width, 'none', 'the stylesheet applied');
}

/** Pays (or declines) on the simulator's customer page `page` shows. */
async function actOnSimulator(page, action) {
  await page.waitForURL((url) => url.href.startsWith(`${SIM_URL}/`));
  const button = action === 'pay' ? 'Pay 支付' : 'Decline 拒绝';
  await page.getByRole('button', { name: button, exact: true }).click();
}

describe('wallet pages', () => {
  let receiver;
  let browser;
  let screenshots;

  before(async () => {
    receiver = await startReceiver();
    await gateway('POST', '/v1/connector_accounts', accountForm(process.env.WALLET_SIM_ALIPAY));
    await gateway('POST', '/v1/connector_accounts', accountForm(process.env.WALLET_SIM_WECHAT_PAY));
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  /** A page in a fresh context with `agent` and `locale`. */
  async function openPage(agent, locale = 'en-US', mobile = true) {
    const context = await browser.newContext({
      userAgent: agent,
      locale,
      viewport: mobile ? { width: 390, height: 844 } : { width: 1280, height: 900 },
    });
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    return context.newPage();
  }

  async function closePage(page) {
    await page.context().close();
  }

  describe('the aggregated QR (聚合码)', () => {
    async function aggregatedIntent() {
      const intent = await gateway('POST', '/v1/payment_intents', {
        amount: '2680',
        currency: 'cny',
        description: 'Tea for two',
        'payment_method_types[0]': 'alipay',
        'payment_method_types[1]': 'wechat_pay',
        'payment_method_data[type]': 'wallet_qr',
        return_url: `${receiver.base}/wallet-return`,
        confirm: 'true',
      });
      assert.equal(intent.status, 'requires_action');
      assert.equal(intent.next_action.type, 'display_qr_code');
      const qr = intent.next_action.display_qr_code;
      assert.ok(qr.data.startsWith(`${BASE_URL}/wallet_qr/${intent.id}?client_secret=`), qr.data);
      assert.match(qr.image_data_url, /^data:image\/png;base64,/);
      return { intent, data: qr.data };
    }

    test('AlipayClient goes to the Alipay wap flow and pays there', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { intent, data } = await aggregatedIntent();
      const page = await openPage(AGENTS.alipay, 'zh-CN');
      await page.goto(data);
      // Alipay's cashier: the wap pay request itself (/gateway.do).
      await page.waitForURL((url) => url.href.startsWith(`${SIM_URL}/gateway.do?`));
      await page.getByRole('heading', { name: /Alipay/ }).waitFor();
      assert.equal(await page.locator('#amount').textContent(), '26.80');
      const trades = await (await fetch(`${SIM_URL}/sim/trades`)).json();
      const trade = trades.trades.find((t) => t.out_trade_no.startsWith(intent.id));
      assert.equal(trade?.kind, 'alipay.trade.wap.pay', 'a wap trade');
      await page.screenshot({ path: join(screenshots, 'wallet-qr-alipay-client.png'), fullPage: true });
      await actOnSimulator(page, 'pay');
      // Alipay's wap flow returns the buyer to the intent's return_url.
      await page.waitForURL((url) => url.href.startsWith(`${receiver.base}/wallet-return`));
      const paid = await intentSucceeds(intent.id);
      assert.equal(paid.amount_received, 2680);
      assert.deepEqual(paid.payment_method_types, ['alipay', 'wechat_pay']);
      const charge = await gateway('GET', `/v1/charges/${paid.latest_charge}`);
      assert.equal(charge.payment_method_details.type, 'alipay');
      await closePage(page);
    });

    test('MicroMessenger goes to WeChat Pay H5 (no openid) and pays there', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { intent, data } = await aggregatedIntent();
      const page = await openPage(AGENTS.wechat, 'zh-CN');
      await page.goto(data);
      await page.waitForURL((url) => url.href.startsWith(`${SIM_URL}/c/`));
      await page.getByRole('heading', { name: /WeChat Pay/ }).waitFor();
      assert.equal(await page.locator('#amount').textContent(), '26.80');
      const trades = await (await fetch(`${SIM_URL}/sim/trades`)).json();
      const trade = trades.trades.find((t) => t.out_trade_no.startsWith(intent.id));
      assert.ok(trade, 'the simulator has the trade');
      assert.equal(trade.kind, 'MWEB', 'an H5 trade');
      await page.screenshot({ path: join(screenshots, 'wallet-qr-micromessenger.png'), fullPage: true });
      await actOnSimulator(page, 'pay');
      const paid = await intentSucceeds(intent.id);
      const charge = await gateway('GET', `/v1/charges/${paid.latest_charge}`);
      assert.equal(charge.payment_method_details.type, 'wechat_pay');
      await closePage(page);
    });

    for (const [locale, words] of Object.entries(CHOICES)) {
      test(`${locale}: another browser shows the code and both choices`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const { intent, data } = await aggregatedIntent();
        const page = await openPage(AGENTS.desktop, locale, false);
        await page.goto(data);
        assert.equal(await page.getAttribute('html', 'lang'), locale);
        await page.getByRole('heading', { name: words.title }).waitFor();
        const code = page.getByRole('img', { name: words.qr });
        await code.waitFor();
        assert.ok(await code.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR image loaded');
        await page.getByRole('link', { name: words.wechat, exact: true }).waitFor();
        await expectStyled(page);
        await expectNoSeriousViolations(page, `the ${locale} aggregated QR page`);
        await page.screenshot({ path: join(screenshots, `wallet-qr-choices-${locale}.png`), fullPage: true });
        // Choosing on the page works as the wallet's app would.
        await page.getByRole('link', { name: words.alipay, exact: true }).click();
        await actOnSimulator(page, 'pay');
        await intentSucceeds(intent.id);
        await closePage(page);
      });
    }
  });

  describe('the aggregated QR scanned again', () => {
    const GONE = {
      en: { title: 'This payment code is no longer valid', paid: 'Already paid' },
      'zh-CN': { title: '此付款码已失效', paid: '已支付' },
    };

    /** An aggregated code whose Alipay trade the customer declined. */
    async function declinedCode(locale) {
      const intent = await gateway('POST', '/v1/payment_intents', {
        amount: '1280',
        currency: 'cny',
        'payment_method_types[0]': 'alipay',
        'payment_method_types[1]': 'wechat_pay',
        'payment_method_data[type]': 'wallet_qr',
        confirm: 'true',
      });
      const data = intent.next_action.display_qr_code.data;
      const page = await openPage(AGENTS.alipay, locale);
      await page.goto(data);
      await actOnSimulator(page, 'decline');
      await waitFor(`${intent.id} to be declined`, async () => {
        const now = await gateway('GET', `/v1/payment_intents/${intent.id}`);
        return now.status === 'requires_payment_method';
      });
      await closePage(page);
      return { intent, data };
    }

    test('after a decline, rescanning starts a new attempt that pays', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { intent, data } = await declinedCode('zh-CN');
      const again = await openPage(AGENTS.alipay, 'zh-CN');
      await again.goto(data);
      await actOnSimulator(again, 'pay');
      const paid = await intentSucceeds(intent.id);
      assert.equal(paid.amount_received, 1280);
      await closePage(again);
    });

    for (const [locale, words] of Object.entries(GONE)) {
      test(`${locale}: declined, then confirmed by the merchant another way, the code is no longer valid`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const { intent, data } = await declinedCode(locale);
        await gateway('POST', `/v1/payment_intents/${intent.id}/confirm`, {
          'payment_method_data[type]': 'alipay',
          'payment_method_options[alipay][channel]': 'qr',
        });
        for (const agent of [AGENTS.alipay, AGENTS.desktop]) {
          const again = await openPage(agent, locale);
          const answer = await again.goto(data);
          assert.equal(answer.status(), 410);
          assert.match(answer.headers()['content-type'], /^text\/html/);
          assert.equal(await again.getAttribute('html', 'lang'), locale);
          await again.getByRole('heading', { name: words.title }).waitFor();
          await expectStyled(again);
          await expectNoSeriousViolations(again, `the ${locale} no-longer-valid page`);
          await again.screenshot({ path: join(screenshots, `wallet-qr-rescan-void-${locale}.png`), fullPage: true });
          await closePage(again);
        }
      });
    }

    test('a paid code says so, and an unknown one is a 404 page', { timeout: TEST_TIMEOUT_MS }, async () => {
      const intent = await gateway('POST', '/v1/payment_intents', {
        amount: '660',
        currency: 'cny',
        'payment_method_types[0]': 'alipay',
        'payment_method_types[1]': 'wechat_pay',
        'payment_method_data[type]': 'wallet_qr',
        confirm: 'true',
      });
      const data = intent.next_action.display_qr_code.data;
      const page = await openPage(AGENTS.alipay, 'zh-CN');
      await page.goto(data);
      await actOnSimulator(page, 'pay');
      await intentSucceeds(intent.id);
      const again = await openPage(AGENTS.wechat, 'zh-CN');
      assert.equal((await again.goto(data)).status(), 200);
      await again.getByRole('heading', { name: GONE['zh-CN'].paid }).waitFor();
      await expectStyled(again);
      const unknown = await again.goto(`${BASE_URL}/wallet_qr/${intent.id}?client_secret=${intent.id}_secret_wrong`);
      assert.equal(unknown.status(), 404);
      await again.getByRole('heading', { name: '未找到付款码' }).waitFor();
      await closePage(again);
      await closePage(page);
    });
  });

  describe('the hosted checkout with wallets', () => {
    async function walletSession(locale) {
      return gateway('POST', '/v1/checkout/sessions', {
        mode: 'payment',
        success_url: `${receiver.base}/success?session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${receiver.base}/cancel`,
        locale,
        'payment_method_types[0]': 'card',
        'payment_method_types[1]': 'alipay',
        'payment_method_types[2]': 'wechat_pay',
        'line_items[0][price_data][currency]': 'cny',
        'line_items[0][price_data][unit_amount]': '1980',
        'line_items[0][price_data][product_data][name]': 'Oolong',
        'line_items[0][quantity]': '2',
      });
    }

    async function expectPaid(page, session) {
      const success = `${receiver.base}/success?session_id=${session.id}`;
      await page.waitForURL(success).catch(async (error) => {
        const body = await page.locator('body').innerText().catch(() => '');
        const shot = join(screenshots, `checkout-wallet-missed-success-${session.id}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        throw new Error(`not at ${success} but at ${page.url()}: ${body.slice(0, 400)}`, { cause: error });
      });
      const after = await gateway('GET', `/v1/checkout/sessions/${session.id}`);
      assert.equal(after.status, 'complete');
      assert.equal(after.payment_status, 'paid');
    }

    /** Chooses `wallet` on a desktop page: the QR code shown, its data. */
    async function showQr(page, words, wallet) {
      const answered = page.waitForResponse((r) => /\/checkout\/cs_\w+\/wallet$/.test(r.url()));
      await page.getByRole('button', { name: words[wallet], exact: true }).click();
      const answer = await (await answered).json();
      assert.equal(answer.outcome, 'display_qr', JSON.stringify(answer));
      const image = page.getByRole('img', { name: words.qrAlt });
      await image.waitFor();
      await page.getByRole('status').getByText(words.scan).waitFor();
      assert.ok(await image.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR image loaded');
      return answer.qr_data;
    }

    /** Waits until the session's PaymentIntent has `status`. */
    async function intentReaches(sessionId, status) {
      const deadline = Date.now() + SETTLE_WAIT_MS;
      for (;;) {
        const session = await gateway('GET', `/v1/checkout/sessions/${sessionId}`);
        const intent = session.payment_intent
          ? await gateway('GET', `/v1/payment_intents/${session.payment_intent}`)
          : null;
        if (intent?.status === status) return intent;
        assert.ok(Date.now() < deadline, `intent ${intent?.id} still ${intent?.status}, not ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }

    /** The customer's phone: scans `data` and pays or declines. */
    async function phoneScans(data, action) {
      const phone = await openPage(AGENTS.phone);
      await phone.goto(`${SIM_URL}/scan?data=${encodeURIComponent(data)}`);
      await actOnSimulator(phone, action);
      await closePage(phone);
    }

    test('en: Alipay on a phone follows the redirect, pays, returns to success_url', { timeout: TEST_TIMEOUT_MS }, async () => {
      const session = await walletSession('en');
      const page = await openPage(AGENTS.phone);
      await page.goto(session.url);
      await expectNoSeriousViolations(page, 'the checkout page with wallets');
      await page.screenshot({ path: join(screenshots, 'checkout-wallets-en.png'), fullPage: true });
      await page.getByRole('button', { name: 'Alipay', exact: true }).click();
      await actOnSimulator(page, 'pay');
      await expectPaid(page, session);
      await closePage(page);
    });

    for (const locale of ['en', 'zh-CN']) {
      const words = CHECKOUT_WORDS[locale];
      test(`${locale}: WeChat Pay on a desktop shows the QR code, paid on the phone`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const session = await walletSession(locale);
        const page = await openPage(AGENTS.desktop, locale, false);
        await page.goto(session.url);
        const data = await showQr(page, words, 'wechat');
        assert.match(data, /^weixin:\/\/wxpay\/bizpayurl\?pr=/);
        await expectNoSeriousViolations(page, `the ${locale} checkout page showing a QR code`);
        await page.screenshot({ path: join(screenshots, `checkout-wechat-qr-${locale}.png`), fullPage: true });
        await phoneScans(data, 'pay');
        await expectPaid(page, session);
        await closePage(page);
      });
    }

    for (const locale of ['en', 'zh-CN']) {
      const words = CHECKOUT_WORDS[locale];
      test(`${locale}: a declined Alipay payment says so, and another wallet pays`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const session = await walletSession(locale);
        const page = await openPage(AGENTS.desktop, locale, false);
        await page.goto(session.url);
        // On a desktop, Alipay is its cashier page (alipay.trade.page.pay):
        // the customer declines there and comes back through the session's
        // return URL, as Alipay sends them.
        await page.getByRole('button', { name: words.alipay, exact: true }).click();
        await actOnSimulator(page, 'decline');
        await intentReaches(session.id, 'requires_payment_method');
        await page.goto(`${BASE_URL}/checkout/${session.id}/return?locale=${locale}`);
        const alert = page.getByRole('alert').filter({ hasText: words.declined });
        await alert.waitFor({ timeout: SETTLE_WAIT_MS });
        const message = await alert.textContent();
        assert.doesNotMatch(message, /card|银行卡/i, 'a wallet message, not a card one');
        assert.ok(await page.locator('#wallet-qr').isHidden(), 'the dead QR code is taken away');
        await expectNoSeriousViolations(page, `the ${locale} checkout page after a declined wallet payment`);
        await page.screenshot({ path: join(screenshots, `checkout-wallet-declined-${locale}.png`), fullPage: true });
        const still = await gateway('GET', `/v1/checkout/sessions/${session.id}`);
        assert.equal(still.status, 'open');
        const again = await showQr(page, words, 'wechat');
        await phoneScans(again, 'pay');
        await expectPaid(page, session);
        await closePage(page);
      });
    }
  });
});
