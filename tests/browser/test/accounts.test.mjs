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

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, NEW_PASSWORD, PASSWORD, REALM, WORDS, emailedLink, openBrowser, registerAndActivate, signIn,
} from './support/account_pages.mjs';

const TEST_TIMEOUT_MS = 120_000;
const LOCKOUT_FAILURES = 10;

/** Everything once, in `locale`. */
async function wholeJourney(locale) {
  const w = WORDS[locale];
  const email = `journey-${locale.toLowerCase()}-${Date.now()}@example.com`;
  const browser = await openBrowser(locale);
  const other = await openBrowser(locale);
  try {
    const { page } = browser;
    // Register, and activate through the emailed link.
    await registerAndActivate(page, w, locale, email);

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
