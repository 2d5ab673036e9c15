// The library's automatic retries against Portcullis's idempotency.
//
// stripe-node puts an `Idempotency-Key` (stripe-node-retry-<uuid>) on every
// POST and, with maxNetworkRetries > 0, retries a request whose connection
// failed with that same key. A lost response must therefore not charge
// twice: the server replays what it answered the first time.
//
// The network failure is made without touching the server: a small HTTP
// proxy in this process sits between the library and Portcullis, forwards a
// request, lets the server finish it, reads the whole answer, and then
// destroys the client's socket instead of passing the answer on.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { once } from 'node:events';
import { Stripe, caught, makeClient, newCard, portcullis } from './support/portcullis.mjs';

const ctx = portcullis();

// Hop-by-hop headers and those the proxy sets itself.
const DROP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/**
 * Starts a proxy to 127.0.0.1:`targetPort`. For each request it calls
 * `drop(exchange, index)`; when that is true, the client's socket is
 * destroyed after the server has answered. Every exchange is recorded.
 */
async function startProxy(targetPort, drop) {
  const exchanges = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const exchange = { method: req.method, path: req.url, headers: req.headers, requestBody: body.toString() };
      const upstream = request(
        {
          host: '127.0.0.1',
          port: targetPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `127.0.0.1:${targetPort}`, 'content-length': String(body.length) },
          agent: false,
        },
        (answer) => {
          const parts = [];
          answer.on('data', (chunk) => parts.push(chunk));
          answer.on('end', () => {
            exchange.status = answer.statusCode;
            exchange.responseHeaders = answer.headers;
            exchange.responseBody = Buffer.concat(parts).toString();
            const index = exchanges.push(exchange) - 1;
            exchange.dropped = Boolean(drop(exchange, index));
            if (exchange.dropped) {
              // The server did the work; the client never hears of it.
              req.socket.destroy();
              return;
            }
            const headers = Object.fromEntries(
              Object.entries(answer.headers).filter(([name]) => !DROP_HEADERS.has(name)),
            );
            headers['content-length'] = String(Buffer.byteLength(exchange.responseBody));
            res.writeHead(answer.statusCode, headers);
            res.end(exchange.responseBody);
          });
        },
      );
      upstream.on('error', (error) => {
        exchange.error = String(error);
        exchanges.push(exchange);
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`proxy: ${error}`);
      });
      upstream.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: server.address().port,
    exchanges,
    close() {
      server.closeAllConnections?.();
      return new Promise((ok) => server.close(ok));
    },
  };
}

const isPost = (path) => (e) => e.method === 'POST' && e.path === path;

describe('automatic retries with the same idempotency key', () => {
  test('create+confirm whose first response is lost is retried and charges once', async () => {
    const merchant = await ctx.newMerchant('Retry');
    const method = await newCard(merchant.stripe); // directly, not through the proxy
    let dropped = false;
    const proxy = await startProxy(ctx.port, (e) => {
      if (!dropped && e.method === 'POST' && e.path === '/v1/payment_intents') {
        dropped = true;
        return true;
      }
      return false;
    });
    try {
      const viaProxy = makeClient(merchant.secret_key, proxy.port, { maxNetworkRetries: 2 });
      const intent = await viaProxy.paymentIntents.create({
        amount: 1700,
        currency: 'usd',
        payment_method: method.id,
        confirm: true,
      });

      const posts = proxy.exchanges.filter(isPost('/v1/payment_intents'));
      assert.equal(posts.length, 2, 'the library should have retried exactly once');
      const [first, second] = posts;
      assert.equal(first.dropped, true);
      assert.equal(second.dropped, false);
      const key = first.headers['idempotency-key'];
      assert.match(key, /^stripe-node-retry-/, 'the library sends an Idempotency-Key on every POST');
      assert.equal(second.headers['idempotency-key'], key);
      assert.equal(second.requestBody, first.requestBody);

      assert.equal(first.status, 200);
      assert.equal(first.responseHeaders['idempotent-replayed'], undefined);
      assert.equal(second.status, 200);
      assert.equal(second.responseHeaders['idempotent-replayed'], 'true');
      assert.equal(second.responseBody, first.responseBody, 'replayed byte for byte');

      // The library returns the object the server created on the lost attempt.
      const created = JSON.parse(first.responseBody);
      assert.equal(intent.id, created.id);
      assert.equal(intent.status, 'succeeded');
      assert.equal(intent.lastResponse.headers['idempotent-replayed'], 'true');

      // Exactly one PaymentIntent for the merchant, charged once.
      const all = await merchant.stripe.paymentIntents.list({ limit: 100 });
      assert.deepEqual(
        all.data.map((pi) => pi.id),
        [created.id],
      );
      assert.equal((await merchant.stripe.charges.list({ payment_intent: created.id })).data.length, 1);
      const events = await merchant.stripe.events.list({ type: 'payment_intent.created', limit: 100 });
      assert.equal(events.data.length, 1);
    } finally {
      await proxy.close();
    }
  });

  test('a confirm whose first response is lost is replayed, not refused as already succeeded', async () => {
    const merchant = await ctx.newMerchant('RetryConfirm');
    const intent = await merchant.stripe.paymentIntents.create({
      amount: 1800,
      currency: 'usd',
      payment_method: (await newCard(merchant.stripe)).id,
    });
    const path = `/v1/payment_intents/${intent.id}/confirm`;
    let dropped = false;
    const proxy = await startProxy(ctx.port, (e) => {
      if (!dropped && e.method === 'POST' && e.path === path) {
        dropped = true;
        return true;
      }
      return false;
    });
    try {
      const viaProxy = makeClient(merchant.secret_key, proxy.port, { maxNetworkRetries: 2 });
      const confirmed = await viaProxy.paymentIntents.confirm(intent.id);
      const posts = proxy.exchanges.filter(isPost(path));
      assert.equal(posts.length, 2);
      assert.equal(posts[0].headers['idempotency-key'], posts[1].headers['idempotency-key']);
      assert.equal(posts[1].responseHeaders['idempotent-replayed'], 'true');
      assert.equal(confirmed.id, intent.id);
      assert.equal(confirmed.status, 'succeeded');
      assert.equal(confirmed.amount_received, 1800);
      assert.equal((await merchant.stripe.charges.list({ payment_intent: intent.id })).data.length, 1);
    } finally {
      await proxy.close();
    }
  });

  test('every response lost: StripeConnectionError after the retries, still one intent', async () => {
    const merchant = await ctx.newMerchant('RetryExhausted');
    const method = await newCard(merchant.stripe);
    const proxy = await startProxy(ctx.port, (e) => e.method === 'POST');
    try {
      const viaProxy = makeClient(merchant.secret_key, proxy.port, { maxNetworkRetries: 2 });
      const err = await caught(() =>
        viaProxy.paymentIntents.create({ amount: 1900, currency: 'usd', payment_method: method.id, confirm: true }),
      );
      assert.ok(err instanceof Stripe.errors.StripeConnectionError, err);
      const posts = proxy.exchanges.filter(isPost('/v1/payment_intents'));
      assert.equal(posts.length, 3, 'one attempt and two retries');
      assert.equal(new Set(posts.map((p) => p.headers['idempotency-key'])).size, 1);
      assert.deepEqual(
        posts.map((p) => p.responseHeaders['idempotent-replayed']),
        [undefined, 'true', 'true'],
      );
      const id = JSON.parse(posts[0].responseBody).id;
      assert.deepEqual(
        (await merchant.stripe.paymentIntents.list()).data.map((pi) => pi.id),
        [id],
      );
      assert.equal((await merchant.stripe.paymentIntents.retrieve(id)).status, 'succeeded');
    } finally {
      await proxy.close();
    }
  });
});
