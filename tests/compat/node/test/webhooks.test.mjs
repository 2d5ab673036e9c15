// Webhook signatures checked by the library's own helpers
// (stripe.webhooks.generateTestHeaderString / constructEvent), on
// api-contract.md's test vector, and, once the server has webhook endpoints,
// on a real delivery from Portcullis to a receiver in this process.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { Stripe, caught, paidIntent, portcullis } from './support/portcullis.mjs';

const ctx = portcullis();
const { StripeSignatureVerificationError } = Stripe.errors;

// api-contract.md's test vector.
const BODY = '{"id":"evt_1","object":"event"}';
const SECRET = 'whsec_x';
const T = 1700000000;
const V1 = 'c9bcc97a8a4ff4bae104ef32dcacf8b24b4c3cf0512aef639b8502673db15436';
const DELIVERY_TIMEOUT_MS = 30_000;

/** The documented scheme: hex(HMAC-SHA256(key = whole secret, message = "<t>.<raw body>")). */
function documentedV1(body, secret, t) {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

describe('webhook signatures (library helpers)', () => {
  test('the documented scheme gives the contract test vector', () => {
    assert.equal(documentedV1(BODY, SECRET, T), V1);
  });

  test('generateTestHeaderString produces the contract test vector', () => {
    const header = Stripe.webhooks.generateTestHeaderString({ payload: BODY, secret: SECRET, timestamp: T });
    assert.equal(header, `t=${T},v1=${V1}`);
    // The same helper hangs off a client instance.
    assert.equal(ctx.stripe.webhooks.generateTestHeaderString({ payload: BODY, secret: SECRET, timestamp: T }), header);
  });

  test('constructEvent accepts the contract vector, from a string and from a Buffer', () => {
    const receivedAt = (T + 10) * 1000; // milliseconds: 10 s after signing
    const header = `t=${T},v1=${V1}`;
    const event = Stripe.webhooks.constructEvent(BODY, header, SECRET, 300, undefined, receivedAt);
    assert.deepEqual(event, { id: 'evt_1', object: 'event' });
    const fromBuffer = Stripe.webhooks.constructEvent(Buffer.from(BODY), header, SECRET, 300, undefined, receivedAt);
    assert.deepEqual(fromBuffer, { id: 'evt_1', object: 'event' });
    // Several v1= during secret rolling: one matching is enough.
    const rolled = `t=${T},v1=${'0'.repeat(64)},v1=${V1}`;
    assert.deepEqual(Stripe.webhooks.constructEvent(BODY, rolled, SECRET, 300, undefined, receivedAt).id, 'evt_1');
  });

  test('constructEvent rejects a wrong secret, a changed body and an old timestamp', async () => {
    const receivedAt = (T + 10) * 1000;
    const header = `t=${T},v1=${V1}`;
    let err = await caught(() => Stripe.webhooks.constructEvent(BODY, header, 'whsec_y', 300, undefined, receivedAt));
    assert.ok(err instanceof StripeSignatureVerificationError, err);
    err = await caught(() =>
      Stripe.webhooks.constructEvent(BODY.replace('evt_1', 'evt_2'), header, SECRET, 300, undefined, receivedAt),
    );
    assert.ok(err instanceof StripeSignatureVerificationError, err);
    // 301 s late with the default tolerance of 300 s.
    err = await caught(() => Stripe.webhooks.constructEvent(BODY, header, SECRET, undefined, undefined, (T + 301) * 1000));
    assert.ok(err instanceof StripeSignatureVerificationError, err);
    assert.match(err.message, /tolerance/);
  });

  test('constructEventAsync agrees', async () => {
    const event = await Stripe.webhooks.constructEventAsync(BODY, `t=${T},v1=${V1}`, SECRET, 300, undefined, T * 1000);
    assert.equal(event.id, 'evt_1');
  });
});

/** A merchant's webhook receiver: records every request with its raw body. */
async function startReceiver() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"received":true}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}/webhooks/stripe`,
    received,
    /** Waits until `predicate` holds for some delivery; returns it. */
    async waitFor(predicate, timeoutMs = DELIVERY_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.find(predicate);
        if (found) {
          return found;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `no matching webhook delivery within ${timeoutMs} ms; got ${received.length}: ` +
              received.map((r) => r.body.toString().slice(0, 120)).join(' | '),
          );
        }
        await new Promise((wake) => setTimeout(wake, Math.min(left, 100)));
      }
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((ok) => server.close(ok));
    },
  };
}

describe('webhook endpoints and a real delivery', () => {
  test('endpoint CRUD, then a delivery verified with constructEvent', async (t) => {
    const probe = await ctx.api('GET', '/v1/webhook_endpoints');
    if (probe.status !== 200) {
      t.skip(
        `webhook endpoints are not implemented on this server yet: GET /v1/webhook_endpoints answered ` +
          `${probe.status} ${probe.text.slice(0, 160)}`,
      );
      return;
    }
    const { stripe } = await ctx.newMerchant('Webhooks');
    const receiver = await startReceiver();
    try {
      const endpoint = await stripe.webhookEndpoints.create({
        url: receiver.url,
        enabled_events: ['payment_intent.succeeded', 'charge.succeeded'],
        metadata: { suite: 'compat-node' },
      });
      assert.equal(endpoint.object, 'webhook_endpoint');
      assert.match(endpoint.id, /^we_/);
      assert.equal(endpoint.url, receiver.url);
      // Portcullis answers enabled_events sorted (Stripe keeps the given
      // order): the same set, which is what deliveries depend on.
      assert.deepEqual([...endpoint.enabled_events].sort(), ['charge.succeeded', 'payment_intent.succeeded']);
      assert.equal(endpoint.status, 'enabled');
      assert.match(endpoint.secret, /^whsec_/);
      const secret = endpoint.secret;

      // The secret is shown only on creation.
      const fetched = await stripe.webhookEndpoints.retrieve(endpoint.id);
      assert.equal(fetched.id, endpoint.id);
      assert.ok(fetched.secret === undefined || fetched.secret === null, 'secret shown again on retrieve');
      const listed = await stripe.webhookEndpoints.list();
      assert.equal(listed.object, 'list');
      assert.deepEqual(
        listed.data.map((e) => e.id),
        [endpoint.id],
      );

      const intent = await paidIntent(stripe, { amount: 4321 });
      const delivery = await receiver.waitFor((r) => {
        try {
          const body = JSON.parse(r.body.toString());
          return body.type === 'payment_intent.succeeded' && body.data?.object?.id === intent.id;
        } catch {
          return false;
        }
      });
      assert.equal(delivery.method, 'POST');
      assert.match(String(delivery.headers['content-type']), /^application\/json/);
      const header = delivery.headers['stripe-signature'];
      assert.match(String(header), /^t=\d+,(.*,)?v1=[0-9a-f]{64}/);

      // The library's own verification, on the raw body as received.
      const event = stripe.webhooks.constructEvent(delivery.body, header, secret);
      assert.equal(event.object, 'event');
      assert.match(event.id, /^evt_/);
      assert.equal(event.type, 'payment_intent.succeeded');
      assert.equal(event.data.object.id, intent.id);
      assert.equal(event.data.object.amount_received, 4321);
      // And the documented scheme, computed by hand, agrees.
      const t0 = /t=(\d+)/.exec(header)[1];
      assert.ok(header.includes(`v1=${documentedV1(delivery.body.toString(), secret, t0)}`));
      // Another endpoint's secret does not verify it.
      const err = await caught(() => stripe.webhooks.constructEvent(delivery.body, header, 'whsec_notTheSecret'));
      assert.ok(err instanceof StripeSignatureVerificationError);

      // The delivered event is the one the API lists.
      assert.equal((await stripe.events.retrieve(event.id)).id, event.id);

      const updated = await stripe.webhookEndpoints.update(endpoint.id, {
        enabled_events: ['*'],
        metadata: { suite: '' },
      });
      assert.deepEqual(updated.enabled_events, ['*']);
      assert.deepEqual(updated.metadata, {});
      const disabled = await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
      assert.equal(disabled.status, 'disabled');

      const deleted = await stripe.webhookEndpoints.del(endpoint.id);
      assert.equal(deleted.id, endpoint.id);
      assert.equal(deleted.deleted, true);
      assert.deepEqual((await stripe.webhookEndpoints.list()).data, []);
    } finally {
      await receiver.close();
    }
  });
});
