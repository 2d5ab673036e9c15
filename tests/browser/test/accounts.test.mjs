// The hosted customer account pages (/account/…) in headless Chromium:
// register, activate through the emailed link (aiosmtpd catches the mail),
// sign in, change the password (the other session ends), get locked out and
// recover by a reset link, switch language, and the whole of it once in
// Simplified Chinese. No CSP violation and no script error on any page.
//
// Environment (run.sh sets it):
//   PORTCULLIS_URL          base URL of a running `portcullis serve`
//   PORTCULLIS_MERCHANT_ID  the merchant whose customers these are
//   PORTCULLIS_MAIL_LOG     the SMTP sink's JSON Lines file
//   CHROMIUM_PATH           the browser (default /usr/bin/chromium)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.PORTCULLIS_URL;
const MERCHANT = process.env.PORTCULLIS_MERCHANT_ID;
const MAIL_LOG = process.env.PORTCULLIS_MAIL_LOG;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TEST_TIMEOUT_MS = 120_000;
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
const PASSWORD = 'violet kettle drum 42';
const NEW_PASSWORD = 'amber lantern fjord 7';
const LOCKOUT_FAILURES = 10;

if (!BASE_URL || !MERCHANT || !MAIL_LOG) {
  throw new Error('PORTCULLIS_URL, PORTCULLIS_MERCHANT_ID and PORTCULLIS_MAIL_LOG must be set (run tests/browser/run.sh)');
}
const REALM = `merchant=${MERCHANT}&mode=test`;

/**
 * The link to `/account/<page>` in the newest message to `to` that holds
 * one (waiting for it), on this server's origin.
 */
async function emailedLink(to, page) {
  const pattern = new RegExp(`https?://[^\\s]+/account/${page}\\?token=[A-Za-z0-9_-]+`);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await readFile(MAIL_LOG, 'utf8').catch(() => '');
    const links = text.split('\n').filter(Boolean).map((line) => JSON.parse(line))
      .filter((m) => m.rcpt_tos.includes(to))
      .map((m) => m.body.match(pattern))
      .filter(Boolean);
    if (links.length > 0) {
      const url = new URL(links[links.length - 1][0]);
      return `${BASE_URL}${url.pathname}${url.search}`;
    }
    assert.ok(Date.now() < deadline, `no /account/${page} link emailed to ${to}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A browser speaking `locale`; collects console errors (CSP refusals). */
async function openBrowser(locale) {
  const profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    locale,
    viewport: { width: 900, height: 700 },
  });
  context.setDefaultTimeout(30_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  // A refused form answers 4xx, which Chromium logs as a failed load:
  // those are expected; CSP refusals, script errors and missing assets not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      errors.push(m.text());
    }
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400) {
      errors.push(`${r.status()} ${r.url()}`);
    }
  });
  return {
    page,
    context,
    errors,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The words each language uses on the pages. */
const WORDS = {
  en: {
    email: 'Email address', password: 'Password', current: 'Current password', newPassword: 'New password',
    register: 'Create account', registered: 'Check your email', activate: 'Activate account',
    activated: 'Your account is active', signIn: 'Sign in', changePassword: 'Change password',
    changed: 'Every other session is signed out', locked: 'locked', resetSubmit: 'Send reset link',
    setPassword: 'Set new password', resetDone: 'Sign in with the new password', signOut: 'Sign out',
    signedOut: 'You are signed out',
  },
  'zh-CN': {
    email: '电子邮箱', password: '密码', current: '当前密码', newPassword: '新密码',
    register: '创建账户', registered: '请查收邮件', activate: '激活账户',
    activated: '您的账户已激活', signIn: '登录', changePassword: '修改密码',
    changed: '其他所有会话均已退出', locked: '锁定', resetSubmit: '发送重置链接',
    setPassword: '设置新密码', resetDone: '请使用新密码登录', signOut: '退出登录',
    signedOut: '您已退出登录',
  },
};

async function signIn(page, w, email, password) {
  await page.goto(`${BASE_URL}/account/login?${REALM}`);
  await page.getByLabel(w.email, { exact: true }).fill(email);
  await page.getByLabel(w.password, { exact: true }).fill(password);
  await page.getByRole('button', { name: w.signIn }).click();
}

/** Everything once, in `locale`. */
async function wholeJourney(locale) {
  const w = WORDS[locale];
  const email = `journey-${locale.toLowerCase()}-${Date.now()}@example.com`;
  const browser = await openBrowser(locale);
  const other = await openBrowser(locale);
  try {
    const { page } = browser;
    // Register.
    await page.goto(`${BASE_URL}/account/register?${REALM}`);
    assert.equal(await page.getAttribute('html', 'lang'), locale);
    await page.getByLabel(w.email, { exact: true }).fill(email);
    await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: w.register }).click();
    await page.getByRole('status').filter({ hasText: w.registered }).waitFor();

    // Activate through the emailed link.
    await page.goto(await emailedLink(email, 'activate'));
    await page.getByRole('button', { name: w.activate }).click();
    await page.getByRole('status').filter({ hasText: w.activated }).waitFor();

    // Sign in here and in another browser.
    await signIn(page, w, email, PASSWORD);
    await page.waitForURL(`${BASE_URL}/account`);
    assert.equal(await page.textContent('#account-email'), email);
    const cookies = await browser.context.cookies(`${BASE_URL}/account`);
    const session = cookies.find((c) => c.name === 'portcullis_account_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    await signIn(other.page, w, email, PASSWORD);
    await other.page.waitForURL(`${BASE_URL}/account`);

    // Change the password: the other browser's session ends.
    await page.locator('#to-password').click();
    await page.getByLabel(w.current, { exact: true }).fill(PASSWORD);
    await page.getByLabel(w.newPassword, { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: w.changePassword }).click();
    await page.getByRole('status').filter({ hasText: w.changed }).waitFor();
    const gone = await other.page.goto(`${BASE_URL}/account`);
    assert.equal(gone.status(), 401);

    // Sign out.
    await page.goto(`${BASE_URL}/account`);
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    await page.getByRole('status').filter({ hasText: w.signedOut }).waitFor();

    // Lockout after ten failures, announced; recovery by a reset link.
    for (let i = 0; i < LOCKOUT_FAILURES; i += 1) {
      await signIn(page, w, email, 'not the password at all');
      await page.getByRole('alert').waitFor();
    }
    await signIn(page, w, email, NEW_PASSWORD);
    const alert = await page.getByRole('alert').textContent();
    assert.ok(alert.includes(w.locked), alert);
    await page.goto(`${BASE_URL}/account/password_reset?${REALM}`);
    await page.getByLabel(w.email, { exact: true }).fill(email);
    await page.getByRole('button', { name: w.resetSubmit }).click();
    await page.getByRole('status').waitFor();
    await page.goto(await emailedLink(email, 'reset'));
    await page.getByLabel(w.newPassword, { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: w.setPassword }).click();
    await page.getByRole('status').filter({ hasText: w.resetDone }).waitFor();
    await signIn(page, w, email, PASSWORD);
    await page.waitForURL(`${BASE_URL}/account`);

    assert.deepEqual(browser.errors, [], 'no console errors (CSP refusals, script errors)');
  } finally {
    await browser.close();
    await other.close();
  }
}

describe('customer account pages', { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  test('register, activate, sign in, change password, lockout and recovery (English)', { timeout: TEST_TIMEOUT_MS }, async () => {
    await wholeJourney('en');
  });

  test('the same in Simplified Chinese', { timeout: TEST_TIMEOUT_MS }, async () => {
    await wholeJourney('zh-CN');
  });

  test('the switcher changes the language and remembers it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const browser = await openBrowser('en');
    try {
      const { page } = browser;
      await page.goto(`${BASE_URL}/account/login?${REALM}`);
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      await page.getByRole('link', { name: '简体中文' }).click();
      assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
      await page.goto(`${BASE_URL}/account/register?${REALM}`);
      assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN', 'remembered');
      await page.getByRole('link', { name: 'English' }).click();
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
    }
  });
});
