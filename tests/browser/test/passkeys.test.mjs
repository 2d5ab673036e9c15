// Passkeys on the hosted customer account pages, in headless Chromium with
// a virtual authenticator (Chrome DevTools Protocol: WebAuthn.enable,
// WebAuthn.addVirtualAuthenticator — CTAP2, internal transport, resident
// keys, user verification): add a passkey on /account, sign out, sign in
// with it on /account/login, confirm a password change with it on the
// step-up page (a bogus signature first: refused and announced), delete
// it; once in English and once in Simplified Chinese. Chromium itself runs
// WebAuthn against the server's options (relying party `localhost`, the
// public_url run.sh gives the server), so the ceremony is the browser's,
// not ours. No CSP violation and no script error on any page.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_MERCHANT_ID,
// PORTCULLIS_MAIL_LOG, CHROMIUM_PATH, SCREENSHOT_DIR.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE_URL, NEW_PASSWORD, PASSWORD, REALM, WORDS, addAuthenticator, openBrowser, registerAndActivate, signIn,
} from './support/account_pages.mjs';

const TEST_TIMEOUT_MS = 120_000;

async function journey(locale, screenshots) {
  const w = WORDS[locale];
  const email = `passkey-${locale.toLowerCase()}-${Date.now()}@example.com`;
  const browser = await openBrowser(locale);
  const shot = (name) => browser.page.screenshot({
    path: join(screenshots, `passkeys-${locale}-${name}.png`), fullPage: true,
  });
  try {
    const { page, context } = browser;
    const authenticator = await addAuthenticator(context, page);
    await registerAndActivate(page, w, locale, email);
    await signIn(page, w, email, PASSWORD);
    await page.waitForURL(`${BASE_URL}/account`);
    await page.getByText(w.noPasskey).waitFor();

    // Add a passkey, named: Chromium's authenticator makes a discoverable
    // credential for this site, and the page lists it.
    await page.getByLabel(w.passkeyName, { exact: true }).fill('Laptop');
    await page.getByRole('button', { name: w.addPasskey }).click();
    await page.getByRole('status').filter({ hasText: w.passkeyAdded }).waitFor();
    const rows = page.locator('#passkeys tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().textContent(), /Laptop/);
    const [stored] = await authenticator.credentials();
    assert.equal(stored.rpId, 'localhost');
    assert.equal(stored.isResidentCredential, true);
    await shot('account');

    // Sign out, and back in with the passkey alone (no email typed).
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    await page.getByRole('status').filter({ hasText: w.signedOut }).waitFor();
    await page.goto(`${BASE_URL}/account/login?${REALM}`);
    await shot('login');
    await page.getByRole('button', { name: w.passkeySignIn, exact: true }).click();
    await page.waitForURL(`${BASE_URL}/account`);
    assert.equal(await page.textContent('#account-email'), email);

    // Signed in by password instead, a password change needs a step-up
    // now (a passkey sign-in counts as one): the page sends the holder to
    // the step-up page.
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    await page.getByRole('status').filter({ hasText: w.signedOut }).waitFor();
    await signIn(page, w, email, PASSWORD);
    await page.waitForURL(`${BASE_URL}/account`);
    await page.locator('#to-password').click();
    await page.getByLabel(w.current, { exact: true }).fill(PASSWORD);
    await page.getByLabel(w.newPassword, { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: w.changePassword }).click();
    await page.getByRole('alert').waitFor();
    await page.locator('#to-step-up').click();
    await page.getByRole('heading', { name: w.stepUpTitle }).waitFor();

    // A bad signature: refused by the server, the error announced, and
    // still on the step-up page.
    await authenticator.bogusSignatures(true);
    await page.getByRole('button', { name: w.stepUp }).click();
    const refused = page.getByRole('alert').filter({ hasText: w.passkeyNotVerified });
    await refused.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'passkey-error', 'the error has focus');
    await shot('step-up-refused');
    assert.ok(new URL(page.url()).pathname === '/account/step_up');

    // The right signature: back to the password form, which passes now.
    await authenticator.bogusSignatures(false);
    await page.getByRole('button', { name: w.stepUp }).click();
    await page.waitForURL((url) => url.pathname === '/account/password');
    await page.getByLabel(w.current, { exact: true }).fill(PASSWORD);
    await page.getByLabel(w.newPassword, { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: w.changePassword }).click();
    await page.getByRole('status').filter({ hasText: w.changed }).waitFor();

    // Delete the passkey (the step-up still counts); the list is empty.
    await page.getByRole('button', { name: `${w.deletePasskey} Laptop` }).click();
    await page.getByRole('status').filter({ hasText: w.passkeyDeleted }).waitFor();
    await page.getByText(w.noPasskey).waitFor();

    // A deleted passkey signs nobody in: the authenticator still holds
    // it, the server refuses it and the page says so.
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    await page.getByRole('status').filter({ hasText: w.signedOut }).waitFor();
    await page.goto(`${BASE_URL}/account/login?${REALM}`);
    await page.getByRole('button', { name: w.passkeySignIn, exact: true }).click();
    await page.getByRole('alert').filter({ hasText: w.passkeyNotVerified }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/account/login');

    // The refused assertions above answer 400 to the script's fetch: the
    // only errors the page may log.
    const unexpected = browser.errors.filter((e) => !/^400 .*\/account\/(step_up|passkeys\/login)$/.test(e));
    assert.deepEqual(unexpected, [], 'no console errors (CSP refusals, script errors)');
  } finally {
    await browser.close();
  }
}

describe('passkeys on the customer account pages', { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let screenshots;
  before(async () => {
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
  });

  test('add a passkey, sign in with it, step up with it, delete it (English)', { timeout: TEST_TIMEOUT_MS }, async () => {
    await journey('en', screenshots);
  });

  test('the same in Simplified Chinese', { timeout: TEST_TIMEOUT_MS }, async () => {
    await journey('zh-CN', screenshots);
  });
});
