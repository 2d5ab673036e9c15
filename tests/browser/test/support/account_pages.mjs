// What the customer account pages' browser tests share: the server, the
// emailed links (aiosmtpd writes them to a JSON Lines file), a Chromium
// that records console errors, the pages' words in each language, and the
// register → activate → sign-in steps.
//
// Environment (run.sh sets it):
//   PORTCULLIS_URL          base URL of a running `portcullis serve`
//   PORTCULLIS_MERCHANT_ID  the merchant whose customers these are
//   PORTCULLIS_MAIL_LOG     the SMTP sink's JSON Lines file
//   CHROMIUM_PATH           the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.PORTCULLIS_URL;
export const MERCHANT = process.env.PORTCULLIS_MERCHANT_ID;
const MAIL_LOG = process.env.PORTCULLIS_MAIL_LOG;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
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
export const PASSWORD = 'violet kettle drum 42';
export const NEW_PASSWORD = 'amber lantern fjord 7';

if (!BASE_URL || !MERCHANT || !MAIL_LOG) {
  throw new Error('PORTCULLIS_URL, PORTCULLIS_MERCHANT_ID and PORTCULLIS_MAIL_LOG must be set (run tests/browser/run.sh)');
}
export const REALM = `merchant=${MERCHANT}&mode=test`;

/**
 * What `pick` finds in the messages to `to` (JSON Lines of the SMTP sink,
 * oldest first), waiting up to 20 s for it; `what` names it in the failure.
 */
async function waitForMail(to, pick, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await readFile(MAIL_LOG, 'utf8').catch(() => '');
    const messages = text.split('\n').filter(Boolean).map((line) => JSON.parse(line))
      .filter((m) => m.rcpt_tos.includes(to));
    const found = pick(messages);
    if (found) return found;
    assert.ok(Date.now() < deadline, `no ${what} emailed to ${to}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The link to `/account/<page>` in the newest message to `to` that holds
 * one (waiting for it), on this server's origin.
 */
export async function emailedLink(to, page) {
  const pattern = new RegExp(`https?://[^\\s]+/account/${page}\\?token=[A-Za-z0-9_-]+`);
  const newest = (messages) => messages.map((m) => m.body.match(pattern)).filter(Boolean).at(-1);
  const url = new URL((await waitForMail(to, newest, `/account/${page} link`))[0]);
  return `${BASE_URL}${url.pathname}${url.search}`;
}

/** The six-digit code of the `nth` (1-based) message to `to` holding one. */
export async function emailedCode(to, nth) {
  const codeOf = (m) => m.body.split(/\s+/).filter((word) => /^[0-9]{6}$/.test(word));
  const nthCode = (messages) => {
    const codes = messages.map(codeOf).filter((words) => words.length > 0);
    if (codes.length < nth) return null;
    assert.equal(codes[nth - 1].length, 1, 'one code in the message');
    return codes[nth - 1][0];
  };
  return waitForMail(to, nthCode, `code #${nth}`);
}

/** A browser speaking `locale`; collects console errors (CSP refusals). */
export async function openBrowser(locale) {
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
export const WORDS = {
  en: {
    email: 'Email address', password: 'Password', current: 'Current password', newPassword: 'New password',
    register: 'Create account', registered: 'Check your email', activate: 'Activate account',
    activated: 'Your account is active', signIn: 'Sign in', changePassword: 'Change password',
    changed: 'Every other session is signed out', locked: 'locked', resetSubmit: 'Send reset link',
    setPassword: 'Set new password', resetDone: 'Sign in with the new password', signOut: 'Sign out',
    signedOut: 'You are signed out', passkeyName: 'Passkey name', addPasskey: 'Add a passkey',
    passkeyAdded: 'Your passkey is added', passkeySignIn: 'Sign in with a passkey',
    stepUpTitle: "Confirm it's you", stepUp: 'Confirm with passkey', passkeyNotVerified: 'could not be verified',
    deletePasskey: 'Delete', passkeyDeleted: 'The passkey is deleted', noPasskey: 'You have no passkey yet',
    payTitle: 'Confirm your payment', payWithPassword: 'Confirm with password', cancelPayment: 'Cancel payment',
    payCodeSend: 'Email me a code', payCodeSent: 'We sent a 6-digit code', payCode: 'Code from the email',
    payCodeSubmit: 'Confirm with code',
    dollars: (cents) => `$${(cents / 100).toFixed(2)}`,
  },
  'zh-CN': {
    email: '电子邮箱', password: '密码', current: '当前密码', newPassword: '新密码',
    register: '创建账户', registered: '请查收邮件', activate: '激活账户',
    activated: '您的账户已激活', signIn: '登录', changePassword: '修改密码',
    changed: '其他所有会话均已退出', locked: '锁定', resetSubmit: '发送重置链接',
    setPassword: '设置新密码', resetDone: '请使用新密码登录', signOut: '退出登录',
    signedOut: '您已退出登录', passkeyName: '通行密钥名称', addPasskey: '添加通行密钥',
    passkeyAdded: '您的通行密钥已添加', passkeySignIn: '使用通行密钥登录',
    stepUpTitle: '确认是您本人', stepUp: '使用通行密钥确认', passkeyNotVerified: '无法验证此通行密钥',
    deletePasskey: '删除', passkeyDeleted: '通行密钥已删除', noPasskey: '您还没有通行密钥',
    payTitle: '确认付款', payWithPassword: '使用密码确认', cancelPayment: '取消付款',
    payCodeSend: '发送验证码到我的邮箱', payCodeSent: '我们已向您的电子邮箱发送 6 位验证码', payCode: '邮件中的验证码',
    payCodeSubmit: '使用验证码确认',
    dollars: (cents) => `US$${(cents / 100).toFixed(2)}`,
  },
};

export async function signIn(page, w, email, password) {
  await page.goto(`${BASE_URL}/account/login?${REALM}`);
  await page.getByLabel(w.email, { exact: true }).fill(email);
  await page.getByLabel(w.password, { exact: true }).fill(password);
  await page.getByRole('button', { name: w.signIn, exact: true }).click();
}

/** Registers `email` on the pages and activates it through the emailed link. */
export async function registerAndActivate(page, w, locale, email) {
  await page.goto(`${BASE_URL}/account/register?${REALM}`);
  assert.equal(await page.getAttribute('html', 'lang'), locale);
  await page.getByLabel(w.email, { exact: true }).fill(email);
  await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: w.register }).click();
  await page.getByRole('status').filter({ hasText: w.registered }).waitFor();
  await page.goto(await emailedLink(email, 'activate'));
  await page.getByRole('button', { name: w.activate }).click();
  await page.getByRole('status').filter({ hasText: w.activated }).waitFor();
}

/** A virtual platform authenticator (a phone's or laptop's) in `page`'s tab. */
export async function addAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    async credentials() {
      return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    },
    /** The authenticator's next signatures are bogus (or right again). */
    async bogusSignatures(on) {
      await cdp.send('WebAuthn.setResponseOverrideBits', {
        authenticatorId, isBogusSignature: on, isBadUV: false, isBadUP: false,
      });
    },
  };
}
