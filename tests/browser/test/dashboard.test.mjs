// The merchant dashboard in headless Chromium: the owner activates the
// account from the one-time link, finds a payment by searching, refunds
// it, approves a review, resends a webhook (a local receiver sees the
// event again), and opens the charts; axe-core finds no serious or
// critical accessibility violation on the main pages, in English and
// Simplified Chinese. Screenshots go to SCREENSHOT_DIR.
//
// Environment (run.sh sets it): PORTCULLIS_URL, CHROMIUM_PATH,
// SCREENSHOT_DIR, DASHBOARD_SECRET_KEY (the dashboard merchant's key),
// DASHBOARD_ACTIVATION_TOKEN and DASHBOARD_EMAIL (its owner, from
// `portcullis user create`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const BASE_URL = process.env.PORTCULLIS_URL;
const SECRET_KEY = process.env.DASHBOARD_SECRET_KEY;
const TOKEN = process.env.DASHBOARD_ACTIVATION_TOKEN;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PASSWORD = 'harbour lantern quince 58';
const TIMEOUT_MS = 180_000;
const WAIT_MS = 30_000;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const CHARTS = ['chart-volume', 'chart-auth-rate', 'chart-declines', 'chart-blocked', 'chart-latency', 'chart-backlog'];

if (!BASE_URL || !SECRET_KEY || !TOKEN) {
  throw new Error('PORTCULLIS_URL, DASHBOARD_SECRET_KEY and DASHBOARD_ACTIVATION_TOKEN must be set (run tests/browser/run.sh)');
}

async function api(method, path, params) {
  const init = { method, headers: { Authorization: `Bearer ${SECRET_KEY}` } };
  if (params) {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(params).toString();
  }
  const response = await fetch(`${BASE_URL}${path}`, init);
  return { status: response.status, body: await response.json() };
}

/** A webhook receiver on loopback that keeps every event it is sent. */
function startReceiver() {
  const events = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      try { events.push(JSON.parse(body)); } catch { /* not ours */ }
      response.writeHead(200).end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, events, url: `http://127.0.0.1:${server.address().port}/hook` }));
  });
}

async function until(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Fails on any serious or critical axe-core violation of the page. */
async function assertAccessible(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe-core on ${name}`,
  );
}

describe('merchant dashboard', () => {
  let receiver;
  let context;
  let profile;
  let page;
  let shots;
  const paid = {};

  before(async () => {
    shots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(shots, { recursive: true });
    receiver = await startReceiver();
    const endpoint = await api('POST', '/v1/webhook_endpoints', { url: receiver.url, 'enabled_events[]': '*' });
    assert.equal(endpoint.status, 200, JSON.stringify(endpoint.body));
    const review = await api('POST', '/v1/risk/rules', { rule: 'review if :amount_in_usd: > 700 and :amount_in_usd: < 1000' });
    assert.equal(review.status, 200, JSON.stringify(review.body));
    const block = await api('POST', '/v1/risk/rules', { rule: 'block if :amount_in_usd: > 5000' });
    assert.equal(block.status, 200, JSON.stringify(block.body));
    const pay = (amount, description) => api('POST', '/v1/payment_intents', {
      amount, currency: 'usd', payment_method: 'pm_card_visa', confirm: 'true', description,
    });
    paid.teapot = (await pay('2599', 'Blue teapot')).body;
    paid.vase = (await pay('77700', 'Held vase')).body;
    paid.blocked = await pay('600000', 'Blocked crate');
    assert.equal(paid.teapot.status, 'succeeded');
    assert.equal(paid.vase.status, 'succeeded');
    assert.equal(paid.blocked.status, 402);
    profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1100, height: 900 },
    });
    context.setDefaultTimeout(WAIT_MS);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (dialog) => dialog.accept());
  });

  after(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  test('activate, find a payment, refund it, approve a review, resend a webhook, render every chart', { timeout: TIMEOUT_MS }, async () => {
    // Activation from the one-time link signs the owner in.
    await page.goto(`${BASE_URL}/dashboard/activate?token=${TOKEN}&lang=en`);
    await assertAccessible(page, 'the activation page');
    await page.getByLabel('New password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Activate' }).click();
    await page.waitForURL('**/dashboard/payments');
    await assertAccessible(page, 'the payments page');
    await page.screenshot({ path: join(shots, 'dashboard-payments.png'), fullPage: true });

    // Find the payment by searching its description.
    await page.getByLabel('Search').fill('teapot');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/q=teapot/);
    const rows = page.locator('#payments tbody tr');
    assert.equal(await rows.count(), 1, await page.locator('main').innerText());
    await page.getByRole('link', { name: paid.teapot.id }).click();
    await page.waitForURL(`**/dashboard/payments/${paid.teapot.id}`);
    assert.match(await page.locator('#timeline').innerText(), /charge\.succeeded/);
    await assertAccessible(page, 'a payment page');

    // Refund 5.00 of it.
    await page.getByLabel('Amount to refund (minor units)').fill('500');
    await page.getByRole('button', { name: 'Refund' }).click();
    await page.getByText('Refunded.').waitFor();
    assert.match(await page.locator('#timeline').innerText(), /refund\.succeeded/);
    assert.match(await page.locator('#user-actions').innerText(), /refund/);
    await page.screenshot({ path: join(shots, 'dashboard-payment-refunded.png'), fullPage: true });
    const refunds = await api('GET', `/v1/refunds?payment_intent=${paid.teapot.id}`);
    assert.equal(refunds.body.data.length, 1);
    assert.equal(refunds.body.data[0].amount, 500);

    // Approve the held payment's review.
    await page.getByRole('navigation').getByRole('link', { name: 'Reviews' }).click();
    await assertAccessible(page, 'the review queue');
    const open = await api('GET', '/v1/reviews?open=true');
    assert.equal(open.body.data.length, 1);
    const reviewId = open.body.data[0].id;
    await page.getByRole('button', { name: `Approve ${reviewId}` }).click();
    await page.getByText('Review approved.').waitFor();
    const closed = await api('GET', `/v1/reviews/${reviewId}`);
    assert.equal(closed.body.open, false);
    assert.equal(closed.body.closed_reason, 'approved');

    // Resend a webhook: the receiver gets the same event again.
    const first = await until('a delivered event', () => receiver.events.find((e) => e.type === 'payment_intent.succeeded'));
    await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
    await until('the delivery to show as delivered', async () => {
      await page.reload();
      return (await page.getByRole('button', { name: `Resend ${first.id}` }).count()) > 0
        && (await page.locator('table.deliveries').innerText()).includes('delivered');
    });
    await assertAccessible(page, 'the webhooks page');
    const before = receiver.events.filter((e) => e.id === first.id).length;
    await page.getByRole('button', { name: `Resend ${first.id}` }).first().click();
    await page.getByText('The event is scheduled for delivery again.').waitFor();
    await until('the event again', () => receiver.events.filter((e) => e.id === first.id).length > before);
    await page.screenshot({ path: join(shots, 'dashboard-webhooks.png'), fullPage: true });

    // Every chart, drawn on the server.
    await page.getByRole('navigation').getByRole('link', { name: 'Charts' }).click();
    for (const id of CHARTS) {
      const chart = page.locator(`svg#${id}`);
      await chart.waitFor();
      assert.ok((await chart.boundingBox()).height > 50, `${id} has a size`);
    }
    assert.ok((await page.locator('svg#chart-blocked polyline').count()) > 0);
    await assertAccessible(page, 'the charts page');
    await page.screenshot({ path: join(shots, 'dashboard-charts.png'), fullPage: true });

    // The test/live switch: live mode shows the merchant's live objects
    // (none here), then back to test mode.
    await page.getByRole('button', { name: 'View live data' }).click();
    await page.waitForURL('**/dashboard/payments');
    assert.equal(await page.locator('#mode').innerText(), 'Live mode');
    assert.equal(await page.locator('#payments tbody tr').count(), 0, 'no live payments');
    await assertAccessible(page, 'the payments page in live mode');
    await page.screenshot({ path: join(shots, 'dashboard-live-mode.png'), fullPage: true });
    await page.getByRole('button', { name: 'View test data' }).click();
    await page.waitForURL('**/dashboard/payments');
    assert.equal(await page.locator('#mode').innerText(), 'Test mode');
    assert.ok(await page.locator('#payments tbody tr').count() > 0, 'test payments again');
    await page.getByRole('navigation').getByRole('link', { name: 'Charts' }).click();

    // Simplified Chinese, switched with ?locale= links.
    await page.getByRole('link', { name: '简体中文' }).click();
    await page.waitForURL(/locale=zh-CN/);
    await page.getByRole('heading', { name: '图表' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await page.getByRole('navigation').getByRole('link', { name: '付款' }).click();
    await page.getByRole('heading', { name: '付款' }).waitFor();
    await assertAccessible(page, 'the payments page in Chinese');
    await page.screenshot({ path: join(shots, 'dashboard-payments-zh-CN.png'), fullPage: true });
  });

  test('edit risk rules and lists: a block rule added on the risk page blocks the API\'s payment', { timeout: TIMEOUT_MS }, async () => {
    const list = await api('POST', '/v1/risk/lists', { alias: 'blocked_emails', item_type: 'email' });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    await page.goto(`${BASE_URL}/dashboard/risk?locale=en`);
    await page.getByRole('heading', { name: 'Risk rules and lists' }).waitFor();
    await assertAccessible(page, 'the risk page');

    // A rule with a mistake comes back with where it went wrong, announced.
    await page.getByLabel('Rule', { exact: true }).fill('block if\n:amount_in_usd: 500');
    await page.getByRole('button', { name: 'Add rule' }).click();
    assert.match(await page.getByRole('alert').innerText(), /Line 2, column 17/);
    assert.equal(await page.getByLabel('Rule', { exact: true }).getAttribute('aria-invalid'), 'true');
    await assertAccessible(page, 'the risk page with a rule error');

    // The block rule and the value it tests, both added here.
    await page.getByLabel('Rule', { exact: true }).fill('block if :email: in @blocked_emails');
    await page.getByLabel('Description').fill('Blocked addresses');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByText('The rule was added.').waitFor();
    await page.getByLabel('Add a value (@blocked_emails)').fill('Mallory@Example.com');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByText('The value was added to the list.').waitFor();
    await page.getByText('mallory@example.com', { exact: true }).waitFor();
    await assertAccessible(page, 'the risk page after changes');
    await page.screenshot({ path: join(shots, 'dashboard-risk.png'), fullPage: true });

    const pay = (email) => api('POST', '/v1/payment_intents', {
      amount: '500', currency: 'usd', payment_method: 'pm_card_visa', confirm: 'true', receipt_email: email,
    });
    const blocked = await pay('mallory@example.com');
    assert.equal(blocked.status, 402, JSON.stringify(blocked.body));
    const other = await pay('alice@example.com');
    assert.equal(other.status, 200, JSON.stringify(other.body));

    // Disabled from its row, the rule no longer blocks.
    const rules = await api('GET', '/v1/risk/rules');
    const rule = rules.body.data.find((r) => r.description === 'Blocked addresses');
    await page.getByRole('button', { name: `Disable ${rule.id}` }).click();
    await page.getByText('The rule was disabled.').waitFor();
    const again = await pay('mallory@example.com');
    assert.equal(again.status, 200, JSON.stringify(again.body));
  });
});
