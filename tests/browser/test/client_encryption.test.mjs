// Client-side encryption with the browser's own WebCrypto as the encrypter.
//
// A merchant's page (served here by a tiny local "shop" on another origin)
// fetches the gateway's keys from /.well-known/jwks.json (cross-origin, as
// a real page would), encrypts the card in Chromium with WebCrypto as a
// compact JWE (RSA-OAEP-256 + A256GCM), and posts only that JWE to the
// shop's server. The shop relays it to Portcullis as card[encrypted] with
// its secret key and pays. The test checks the shop's server never saw the
// card number or the CVC, only the JWE.
//
// Environment (run.sh sets it): PORTCULLIS_URL, PORTCULLIS_SECRET_KEY,
// CHROMIUM_PATH, SCREENSHOT_DIR.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.PORTCULLIS_URL;
const SECRET_KEY = process.env.PORTCULLIS_SECRET_KEY;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TEST_TIMEOUT_MS = 90_000;
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

if (!BASE_URL || !SECRET_KEY) {
  throw new Error('PORTCULLIS_URL and PORTCULLIS_SECRET_KEY must be set (run tests/browser/run.sh)');
}

async function gateway(path, params) {
  const response = await fetch(`${BASE_URL}${path}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${SECRET_KEY}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: await response.json() };
}

// The merchant's page script: WebCrypto only, no library. Runs in Chromium.
async function encryptInPage({ gatewayUrl, card }) {
  const b64u = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const text = (value) => new TextEncoder().encode(value);
  const { keys } = await (await fetch(`${gatewayUrl}/.well-known/jwks.json`)).json();
  const jwk = keys[0];
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RSA-OAEP-256', ext: true },
    { name: 'RSA-OAEP', hash: 'SHA-256' },
    false,
    ['encrypt'],
  );
  const cek = crypto.getRandomValues(new Uint8Array(32));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const header = b64u(text(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid })));
  const wrapped = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, publicKey, cek);
  const aes = await crypto.subtle.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: text(header), tagLength: 128 },
      aes,
      text(JSON.stringify(card)),
    ),
  );
  const ciphertext = sealed.slice(0, sealed.length - 16);
  const tag = sealed.slice(sealed.length - 16);
  return [header, b64u(wrapped), b64u(iv), b64u(ciphertext), b64u(tag)].join('.');
}

/** The shop: a page, and a /pay endpoint that relays the JWE and pays. */
function startShop() {
  const received = [];
  const server = createServer(async (request, response) => {
    if (request.method === 'POST' && request.url === '/pay') {
      let body = '';
      for await (const chunk of request) body += chunk;
      received.push(body);
      const { jwe } = JSON.parse(body);
      const method = await gateway('/v1/payment_methods', { type: 'card', 'card[encrypted]': jwe });
      let outcome = { method };
      if (method.status === 200) {
        outcome.intent = await gateway('/v1/payment_intents', {
          amount: '2500',
          currency: 'usd',
          payment_method: method.body.id,
          confirm: 'true',
        });
      }
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(outcome));
      return;
    }
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><html lang="en"><title>Shop</title><h1>Checkout at the shop</h1></html>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, received, base: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

describe('client-side encryption with WebCrypto', () => {
  let shop;
  let context;
  let profile;
  let page;
  let screenshots;

  before(async () => {
    shop = await startShop();
    screenshots = process.env.SCREENSHOT_DIR || (await mkdtemp(join(tmpdir(), 'portcullis-screenshots-')));
    await mkdir(screenshots, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(shop.base);
  });

  after(async () => {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
    await new Promise((resolve) => shop?.server.close(resolve));
  });

  async function payFromPage(card) {
    const jwe = await page.evaluate(encryptInPage, { gatewayUrl: BASE_URL, card });
    assert.equal(jwe.split('.').length, 5, jwe);
    return page.evaluate(async (token) => {
      const answer = await fetch('/pay', { method: 'POST', body: JSON.stringify({ jwe: token }) });
      return answer.json();
    }, jwe);
  }

  test('a card encrypted in the browser pays; the shop saw only the JWE', { timeout: TEST_TIMEOUT_MS }, async () => {
    const outcome = await payFromPage({ number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '737' });
    assert.equal(outcome.method.status, 200, JSON.stringify(outcome));
    assert.equal(outcome.method.body.card.last4, '4242');
    assert.equal(outcome.intent.status, 200, JSON.stringify(outcome));
    assert.equal(outcome.intent.body.status, 'succeeded');
    await page.screenshot({ path: join(screenshots, 'client-encryption-shop.png') });
    for (const body of shop.received) {
      // Only the JWE: one field, five base64url parts, so neither the
      // number nor the CVC can be in it in the clear.
      assert.ok(!body.includes('4242424242424242'), 'no card number at the shop');
      assert.deepEqual(Object.keys(JSON.parse(body)), ['jwe']);
      assert.match(JSON.parse(body).jwe, /^[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);
    }
  });

  test('a declined card inside the JWE is declined', { timeout: TEST_TIMEOUT_MS }, async () => {
    const outcome = await payFromPage({ number: '4000000000000002', exp_month: 12, exp_year: 2034, cvc: '123' });
    assert.equal(outcome.method.status, 200, JSON.stringify(outcome));
    assert.equal(outcome.intent.status, 402, JSON.stringify(outcome));
    assert.equal(outcome.intent.body.error.code, 'card_declined');
  });
});
