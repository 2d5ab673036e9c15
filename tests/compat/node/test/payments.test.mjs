// Card payments through the official `stripe` Node library: payment methods,
// payment intents (confirm, capture, cancel, update, list, search), charges,
// refunds and events, each call going through the library's own request
// encoding, response parsing and automatic idempotency keys. Test cards
// behave as in api-contract.md's table.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MASTERCARD,
  REFUND_PENDING,
  Stripe,
  VISA,
  EXP_YEAR,
  caught,
  collect,
  newCard,
  paidIntent,
  portcullis,
  unique,
} from './support/portcullis.mjs';

const ctx = portcullis();

describe('payment methods', () => {
  test('create type card: card details come back, the number and CVC never do', async () => {
    const method = await ctx.stripe.paymentMethods.create({
      type: 'card',
      card: { number: VISA, exp_month: 12, exp_year: EXP_YEAR, cvc: '123' },
      billing_details: { name: 'Node Customer', email: 'node@example.com' },
      metadata: { source: 'compat-node' },
    });
    assert.equal(method.object, 'payment_method');
    assert.match(method.id, /^pm_/);
    assert.equal(method.type, 'card');
    assert.equal(method.customer, null);
    assert.equal(method.card.brand, 'visa');
    assert.equal(method.card.last4, '4242');
    assert.equal(method.card.exp_month, 12);
    assert.equal(method.card.exp_year, EXP_YEAR);
    assert.ok(['credit', 'debit', 'prepaid', 'unknown'].includes(method.card.funding));
    assert.ok(method.card.fingerprint);
    assert.equal(method.billing_details.name, 'Node Customer');
    assert.deepEqual(method.metadata, { source: 'compat-node' });
    const raw = JSON.stringify(method);
    assert.ok(!raw.includes(VISA));
    assert.ok(!raw.includes('"number"') && !raw.includes('"cvc"'));

    const fetched = await ctx.stripe.paymentMethods.retrieve(method.id);
    assert.deepEqual({ ...fetched }, { ...method });
    const updated = await ctx.stripe.paymentMethods.update(method.id, { metadata: { source: '', more: 'x' } });
    assert.deepEqual(updated.metadata, { more: 'x' });
  });

  test('attach, list with customers.listPaymentMethods and paymentMethods.list, detach', async () => {
    const customer = await ctx.stripe.customers.create({ email: `pm-${unique()}@example.com` });
    const visa = await newCard(ctx.stripe, VISA);
    const mastercard = await newCard(ctx.stripe, MASTERCARD);
    const attached = await ctx.stripe.paymentMethods.attach(visa.id, { customer: customer.id });
    assert.equal(attached.id, visa.id);
    assert.equal(attached.customer, customer.id);
    await ctx.stripe.paymentMethods.attach(mastercard.id, { customer: customer.id });

    const listed = await ctx.stripe.customers.listPaymentMethods(customer.id);
    assert.equal(listed.object, 'list');
    assert.deepEqual(new Set(listed.data.map((m) => m.id)), new Set([visa.id, mastercard.id]));
    assert.deepEqual(new Set(listed.data.map((m) => m.card.brand)), new Set(['visa', 'mastercard']));
    assert.ok(listed.data.every((m) => m.object === 'payment_method'));
    // The library pages through the nested list too.
    const paged = await collect(ctx.stripe.customers.listPaymentMethods(customer.id, { limit: 1 }));
    assert.deepEqual(new Set(paged.map((m) => m.id)), new Set([visa.id, mastercard.id]));
    assert.equal(paged.length, 2);

    const byFilter = await ctx.stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
    assert.deepEqual(new Set(byFilter.data.map((m) => m.id)), new Set([visa.id, mastercard.id]));

    const detached = await ctx.stripe.paymentMethods.detach(visa.id);
    assert.equal(detached.id, visa.id);
    assert.equal(detached.customer, null);
    assert.deepEqual(
      (await ctx.stripe.customers.listPaymentMethods(customer.id)).data.map((m) => m.id),
      [mastercard.id],
    );
    assert.equal((await ctx.stripe.paymentMethods.retrieve(visa.id)).customer, null);
  });

  test('the same card has the same fingerprint', async () => {
    const a = await newCard(ctx.stripe, VISA);
    const b = await newCard(ctx.stripe, VISA);
    const other = await newCard(ctx.stripe, MASTERCARD);
    assert.notEqual(a.id, b.id);
    assert.equal(a.card.fingerprint, b.card.fingerprint);
    assert.notEqual(a.card.fingerprint, other.card.fingerprint);
  });
});

describe('payment intents', () => {
  test('create without confirm, update, then confirm', async () => {
    const customer = await ctx.stripe.customers.create({ email: `two-step-${unique()}@example.com` });
    const intent = await ctx.stripe.paymentIntents.create({ amount: 1000, currency: 'eur', customer: customer.id });
    assert.equal(intent.object, 'payment_intent');
    assert.match(intent.id, /^pi_/);
    assert.ok(intent.client_secret.startsWith(`${intent.id}_secret_`));
    assert.equal(intent.status, 'requires_payment_method');
    assert.deepEqual(intent.payment_method_types, ['card']);
    assert.equal(intent.livemode, false);

    const updated = await ctx.stripe.paymentIntents.update(intent.id, {
      amount: 1500,
      description: 'bigger',
      metadata: { step: '2' },
    });
    assert.equal(updated.amount, 1500);
    assert.equal(updated.description, 'bigger');
    assert.deepEqual(updated.metadata, { step: '2' });

    const method = await newCard(ctx.stripe, MASTERCARD);
    const confirmed = await ctx.stripe.paymentIntents.confirm(intent.id, { payment_method: method.id });
    assert.equal(confirmed.status, 'succeeded');
    assert.equal(confirmed.amount_received, 1500);
    assert.equal(confirmed.payment_method, method.id);

    // Succeeded is final.
    let err = await caught(() => ctx.stripe.paymentIntents.confirm(intent.id));
    assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, 'payment_intent_unexpected_state');
    err = await caught(() => ctx.stripe.paymentIntents.cancel(intent.id));
    assert.equal(err.code, 'payment_intent_unexpected_state');
  });

  test('create with confirm: succeeded, expand latest_charge', async () => {
    const intent = await ctx.stripe.paymentIntents.create({
      amount: 2100,
      currency: 'usd',
      payment_method: (await newCard(ctx.stripe)).id,
      confirm: true,
      expand: ['latest_charge'],
    });
    assert.equal(intent.status, 'succeeded');
    assert.equal(intent.amount_received, 2100);
    assert.equal(intent.latest_charge.object, 'charge');
    assert.equal(intent.latest_charge.amount, 2100);
    assert.equal(intent.latest_charge.payment_intent, intent.id);

    const plain = await ctx.stripe.paymentIntents.retrieve(intent.id);
    assert.equal(plain.latest_charge, intent.latest_charge.id);
    const expanded = await ctx.stripe.paymentIntents.retrieve(intent.id, {
      expand: ['latest_charge', 'payment_method'],
    });
    assert.equal(expanded.latest_charge.id, intent.latest_charge.id);
    assert.equal(expanded.payment_method.card.last4, '4242');
  });

  test('well-known test payment method ids', async () => {
    const intent = await ctx.stripe.paymentIntents.create({
      amount: 4200,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    assert.equal(intent.status, 'succeeded');
    const err = await caught(() =>
      ctx.stripe.paymentIntents.create({
        amount: 4200,
        currency: 'usd',
        payment_method: 'pm_card_visa_chargeDeclinedInsufficientFunds',
        confirm: true,
      }),
    );
    assert.ok(err instanceof Stripe.errors.StripeCardError);
    assert.equal(err.decline_code, 'insufficient_funds');
  });

  test('manual capture, partial', async () => {
    const customer = await ctx.stripe.customers.create({ email: `flow-${unique()}@example.com` });
    const method = await newCard(ctx.stripe, VISA);
    await ctx.stripe.paymentMethods.attach(method.id, { customer: customer.id });
    const intent = await ctx.stripe.paymentIntents.create({
      amount: 2000,
      currency: 'usd',
      customer: customer.id,
      payment_method: method.id,
      capture_method: 'manual',
      confirm: true,
      metadata: { order: '6735' },
    });
    assert.equal(intent.status, 'requires_capture');
    assert.equal(intent.capture_method, 'manual');
    assert.equal(intent.amount_capturable, 2000);
    assert.equal(intent.amount_received, 0);
    assert.match(intent.latest_charge, /^ch_/);

    const tooMuch = await caught(() => ctx.stripe.paymentIntents.capture(intent.id, { amount_to_capture: 2001 }));
    assert.ok(tooMuch instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(tooMuch.statusCode, 400);
    assert.equal((await ctx.stripe.paymentIntents.retrieve(intent.id)).status, 'requires_capture');

    const captured = await ctx.stripe.paymentIntents.capture(intent.id, { amount_to_capture: 1500 });
    assert.equal(captured.id, intent.id);
    assert.equal(captured.status, 'succeeded');
    assert.equal(captured.amount_received, 1500);
    assert.equal(captured.amount_capturable, 0);

    const charge = await ctx.stripe.charges.retrieve(captured.latest_charge);
    assert.equal(charge.amount, 2000);
    assert.equal(charge.amount_captured, 1500);
    assert.equal(charge.captured, true);
  });

  test('manual capture without an amount takes all of it', async () => {
    const intent = await ctx.stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      payment_method: (await newCard(ctx.stripe)).id,
      capture_method: 'manual',
      confirm: true,
    });
    const captured = await ctx.stripe.paymentIntents.capture(intent.id);
    assert.equal(captured.status, 'succeeded');
    assert.equal(captured.amount_received, 1000);
  });

  test('cancel from requires_payment_method and from requires_capture; canceled is final', async () => {
    const fresh = await ctx.stripe.paymentIntents.create({ amount: 700, currency: 'usd' });
    const canceled = await ctx.stripe.paymentIntents.cancel(fresh.id, { cancellation_reason: 'requested_by_customer' });
    assert.equal(canceled.status, 'canceled');
    assert.equal(canceled.cancellation_reason, 'requested_by_customer');
    assert.ok(Number.isInteger(canceled.canceled_at));

    const held = await ctx.stripe.paymentIntents.create({
      amount: 800,
      currency: 'usd',
      payment_method: (await newCard(ctx.stripe)).id,
      capture_method: 'manual',
      confirm: true,
    });
    const released = await ctx.stripe.paymentIntents.cancel(held.id);
    assert.equal(released.status, 'canceled');
    assert.equal(released.amount_capturable, 0);

    for (const intent of [fresh, held]) {
      const err = await caught(() => ctx.stripe.paymentIntents.capture(intent.id));
      assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
      assert.equal(err.code, 'payment_intent_unexpected_state');
      assert.equal(err.payment_intent.status, 'canceled');
    }
  });

  test('list with for-await auto-pagination, filtered by customer', async () => {
    const customer = await ctx.stripe.customers.create({ email: `list-${unique()}@example.com` });
    const made = [];
    for (let i = 0; i < 7; i++) {
      made.push((await ctx.stripe.paymentIntents.create({ amount: 100 + i, currency: 'usd', customer: customer.id })).id);
    }
    await ctx.stripe.paymentIntents.create({ amount: 999, currency: 'usd' }); // someone else's
    const page = await ctx.stripe.paymentIntents.list({ customer: customer.id, limit: 3 });
    assert.equal(page.url, '/v1/payment_intents');
    assert.equal(page.has_more, true);
    const seen = await collect(ctx.stripe.paymentIntents.list({ customer: customer.id, limit: 3 }));
    assert.deepEqual(
      seen.map((pi) => pi.id),
      [...made].reverse(),
    );
    assert.ok(seen.every((pi) => pi.object === 'payment_intent'));
  });

  test('list every intent of a merchant across pages', async () => {
    const { stripe } = await ctx.newMerchant('IntentPaging');
    const made = [];
    for (let i = 0; i < 26; i++) {
      made.push((await stripe.paymentIntents.create({ amount: 50 + i, currency: 'usd' })).id);
    }
    const seen = (await collect(stripe.paymentIntents.list({ limit: 10 }))).map((pi) => pi.id);
    assert.deepEqual(seen, [...made].reverse());
  });

  test('search by status with auto-pagination', async () => {
    const { stripe } = await ctx.newMerchant('Search');
    const succeeded = new Set();
    for (let i = 0; i < 3; i++) {
      succeeded.add((await paidIntent(stripe, { amount: 1000 + i })).id);
    }
    await stripe.paymentIntents.create({ amount: 50, currency: 'usd' });
    const held = await stripe.paymentIntents.create({
      amount: 60,
      currency: 'usd',
      payment_method: (await newCard(stripe)).id,
      capture_method: 'manual',
      confirm: true,
    });

    const found = await stripe.paymentIntents.search({ query: "status:'succeeded'" });
    assert.equal(found.object, 'search_result');
    assert.deepEqual(new Set(found.data.map((pi) => pi.id)), succeeded);
    assert.ok(found.data.every((pi) => pi.status === 'succeeded'));

    const paged = await stripe.paymentIntents.search({ query: "status:'succeeded'", limit: 2 });
    assert.equal(paged.has_more, true);
    const seen = (await collect(stripe.paymentIntents.search({ query: "status:'succeeded'", limit: 2 }))).map(
      (pi) => pi.id,
    );
    assert.equal(seen.length, 3);
    assert.deepEqual(new Set(seen), succeeded);

    const capturable = await stripe.paymentIntents.search({ query: "status:'requires_capture'" });
    assert.deepEqual(
      capturable.data.map((pi) => pi.id),
      [held.id],
    );
  });
});

describe('charges', () => {
  test('retrieve and list', async () => {
    const intent = await paidIntent(ctx.stripe, { amount: 3100, description: 'charge me' });
    const charge = await ctx.stripe.charges.retrieve(intent.latest_charge);
    assert.equal(charge.object, 'charge');
    assert.match(charge.id, /^ch_/);
    assert.equal(charge.amount, 3100);
    assert.equal(charge.amount_captured, 3100);
    assert.equal(charge.amount_refunded, 0);
    assert.equal(charge.currency, 'usd');
    assert.equal(charge.captured, true);
    assert.equal(charge.paid, true);
    assert.equal(charge.refunded, false);
    assert.equal(charge.status, 'succeeded');
    assert.equal(charge.payment_intent, intent.id);
    assert.equal(charge.payment_method, intent.payment_method);
    assert.equal(charge.outcome.network_status, 'approved_by_network');
    assert.equal(charge.outcome.type, 'authorized');
    assert.equal(charge.payment_method_details.card.last4, '4242');

    const listed = await ctx.stripe.charges.list({ payment_intent: intent.id });
    assert.equal(listed.object, 'list');
    assert.equal(listed.url, '/v1/charges');
    assert.deepEqual(
      listed.data.map((c) => c.id),
      [charge.id],
    );
  });

  test('list all of a merchant with auto-pagination', async () => {
    const { stripe } = await ctx.newMerchant('Charges');
    const intents = [];
    for (let i = 0; i < 4; i++) {
      intents.push(await paidIntent(stripe, { amount: 500 + i }));
    }
    const seen = await collect(stripe.charges.list({ limit: 3 }));
    assert.deepEqual(
      seen.map((c) => c.id),
      intents.map((pi) => pi.latest_charge).reverse(),
    );
  });

  test('a captured charge carries a balance transaction', async () => {
    const charge = await ctx.stripe.charges.retrieve((await paidIntent(ctx.stripe, { amount: 3200 })).latest_charge);
    assert.match(String(charge.balance_transaction), /^txn_/);
    const txn = await ctx.stripe.balanceTransactions.retrieve(charge.balance_transaction);
    assert.equal(txn.object, 'balance_transaction');
  });
});

describe('refunds', () => {
  test('partial refunds: create, retrieve, update, list with auto-pagination', async () => {
    const intent = await paidIntent(ctx.stripe, { amount: 2000 });
    const refunds = [];
    for (const amount of [500, 300, 200]) {
      refunds.push(await ctx.stripe.refunds.create({ payment_intent: intent.id, amount, reason: 'requested_by_customer' }));
    }
    const first = refunds[0];
    assert.equal(first.object, 'refund');
    assert.match(first.id, /^re_/);
    assert.equal(first.amount, 500);
    assert.equal(first.currency, 'usd');
    assert.equal(first.payment_intent, intent.id);
    assert.equal(first.charge, intent.latest_charge);
    assert.equal(first.reason, 'requested_by_customer');
    assert.equal(first.status, 'succeeded');

    const fetched = await ctx.stripe.refunds.retrieve(first.id);
    assert.deepEqual({ ...fetched }, { ...first });

    const updated = await ctx.stripe.refunds.update(first.id, { metadata: { ticket: '1' } });
    assert.deepEqual(updated.metadata, { ticket: '1' });
    const unset = await ctx.stripe.refunds.update(first.id, { metadata: { ticket: '', note: 'done' } });
    assert.deepEqual(unset.metadata, { note: 'done' });

    // 1000 of 2000 refunded; 1001 more is too much.
    const err = await caught(() => ctx.stripe.refunds.create({ payment_intent: intent.id, amount: 1001 }));
    assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(err.statusCode, 400);

    const charge = await ctx.stripe.charges.retrieve(intent.latest_charge);
    assert.equal(charge.amount_refunded, 1000);
    assert.equal(charge.refunded, false);

    const page = await ctx.stripe.refunds.list({ payment_intent: intent.id, limit: 2 });
    assert.equal(page.object, 'list');
    assert.equal(page.url, '/v1/refunds');
    assert.equal(page.has_more, true);
    const seen = await collect(ctx.stripe.refunds.list({ payment_intent: intent.id, limit: 2 }));
    assert.deepEqual(
      seen.map((r) => r.id),
      refunds.map((r) => r.id).reverse(),
    );
    const byCharge = await ctx.stripe.refunds.list({ charge: intent.latest_charge, limit: 100 });
    assert.equal(byCharge.data.length, 3);

    // The rest, by default, then nothing is left.
    const rest = await ctx.stripe.refunds.create({ payment_intent: intent.id });
    assert.equal(rest.amount, 1000);
    assert.equal((await ctx.stripe.charges.retrieve(intent.latest_charge)).refunded, true);
    const again = await caught(() => ctx.stripe.refunds.create({ payment_intent: intent.id, amount: 1 }));
    assert.equal(again.code, 'charge_already_refunded');
  });

  test('cancel a pending refund on the slow-refund card 4000000000007726', async () => {
    const intent = await paidIntent(ctx.stripe, { amount: 900, number: REFUND_PENDING });
    const refund = await ctx.stripe.refunds.create({ charge: intent.latest_charge, amount: 400 });
    assert.equal(refund.payment_intent, intent.id);
    assert.equal(refund.status, 'pending');
    const canceled = await ctx.stripe.refunds.cancel(refund.id);
    assert.equal(canceled.id, refund.id);
    assert.equal(canceled.status, 'canceled');
    assert.equal((await ctx.stripe.charges.retrieve(intent.latest_charge)).amount_refunded, 0);

    // A succeeded refund cannot be canceled.
    const done = await ctx.stripe.refunds.create({ payment_intent: (await paidIntent(ctx.stripe, { amount: 900 })).id });
    assert.equal(done.status, 'succeeded');
    const err = await caught(() => ctx.stripe.refunds.cancel(done.id));
    assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(err.statusCode, 400);
  });
});

describe('events', () => {
  test('list by type, retrieve', async () => {
    const { stripe } = await ctx.newMerchant('Events');
    const first = await paidIntent(stripe, { amount: 1100 });
    const second = await paidIntent(stripe, { amount: 1200 });
    await stripe.refunds.create({ payment_intent: second.id, amount: 200 });

    const succeeded = await stripe.events.list({ type: 'payment_intent.succeeded' });
    assert.equal(succeeded.object, 'list');
    assert.equal(succeeded.url, '/v1/events');
    assert.deepEqual(
      succeeded.data.map((e) => e.data.object.id),
      [second.id, first.id],
    );
    const event = succeeded.data[0];
    assert.equal(event.object, 'event');
    assert.match(event.id, /^evt_/);
    assert.equal(event.type, 'payment_intent.succeeded');
    assert.equal(event.livemode, false);
    assert.equal(event.data.object.object, 'payment_intent');
    assert.equal(event.data.object.status, 'succeeded');
    assert.match(event.request.id, /^req_/);
    assert.match(event.request.idempotency_key, /^stripe-node-retry-/); // the key the library sent

    const fetched = await stripe.events.retrieve(event.id);
    assert.deepEqual({ ...fetched }, { ...event });

    const created = await stripe.events.list({ type: 'payment_intent.created' });
    assert.deepEqual(new Set(created.data.map((e) => e.data.object.id)), new Set([first.id, second.id]));

    const refunds = await stripe.events.list({ type: 'refund.created' });
    assert.equal(refunds.data.length, 1);
    assert.equal(refunds.data[0].data.object.amount, 200);

    const charges = await stripe.events.list({ type: 'charge.succeeded' });
    assert.deepEqual(new Set(charges.data.map((e) => e.data.object.payment_intent)), new Set([first.id, second.id]));

    // Every event, page by page.
    const all = await collect(stripe.events.list({ limit: 2 }));
    assert.equal(new Set(all.map((e) => e.id)).size, all.length);
    assert.ok(all.length >= 7, `expected at least 7 events, got ${all.length}`);
  });

  test('list by several types (types[])', async () => {
    const { stripe } = await ctx.newMerchant('EventTypes');
    const intent = await paidIntent(stripe, { amount: 1300 });
    const refund = await stripe.refunds.create({ payment_intent: intent.id, amount: 300 });
    const listed = await stripe.events.list({ types: ['payment_intent.succeeded', 'refund.created'] });
    assert.deepEqual(
      listed.data.map((e) => [e.type, e.data.object.id]),
      [
        ['refund.created', refund.id],
        ['payment_intent.succeeded', intent.id],
      ],
    );
  });
});
