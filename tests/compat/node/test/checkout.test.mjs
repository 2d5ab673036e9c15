// Checkout Sessions through the official `stripe` Node library:
// create with inline-priced line items, retrieve (with line items
// expanded), list line items with auto-pagination, list by status, expire.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { caught, collect, portcullis } from './support/portcullis.mjs';

const ctx = portcullis();

const LINE_ITEMS = [
  { price_data: { currency: 'usd', unit_amount: 2000, product_data: { name: 'T-shirt' } }, quantity: 2 },
  { price_data: { currency: 'usd', unit_amount: 350, product_data: { name: 'Socks' } }, quantity: 3 },
];
const SUCCESS_URL = 'https://shop.example/done?session_id={CHECKOUT_SESSION_ID}';

function createSession(stripe, extra = {}) {
  return stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: LINE_ITEMS,
    success_url: SUCCESS_URL,
    cancel_url: 'https://shop.example/cart',
    ...extra,
  });
}

describe('checkout sessions', () => {
  test('create, retrieve with line items, and page through them', async () => {
    const session = await createSession(ctx.stripe, { locale: 'zh', customer_email: 'buyer@example.com' });
    assert.equal(session.object, 'checkout.session');
    assert.match(session.id, /^cs_test_/);
    assert.equal(session.status, 'open');
    assert.equal(session.payment_status, 'unpaid');
    assert.equal(session.amount_total, 5050);
    assert.equal(session.url, `${ctx.baseUrl}/checkout/${session.id}`);

    const expanded = await ctx.stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] });
    assert.deepEqual(expanded.line_items.data.map((item) => item.description), ['T-shirt', 'Socks']);

    const items = await collect(ctx.stripe.checkout.sessions.listLineItems(session.id, { limit: 1 }));
    assert.deepEqual(items.map((item) => item.amount_total), [4000, 1050]);
  });

  test('expire, then expiring again is an invalid request', async () => {
    const { stripe } = await ctx.newMerchant();
    const open = await createSession(stripe);
    const closed = await createSession(stripe);
    const expired = await stripe.checkout.sessions.expire(closed.id);
    assert.equal(expired.status, 'expired');
    assert.equal(expired.url, null);
    const again = await caught(() => stripe.checkout.sessions.expire(closed.id));
    assert.equal(again.type, 'StripeInvalidRequestError');
    const listed = await collect(stripe.checkout.sessions.list({ status: 'open' }));
    assert.deepEqual(listed.map((s) => s.id), [open.id]);
  });
});
