// The library picks its error class from the HTTP status (see
// api-contract.md's table): each status Portcullis answers must surface as
// the class a merchant's code catches, with the fields it reads.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Stripe, VISA, caught, newCard, portcullis, unique } from './support/portcullis.mjs';

const ctx = portcullis();
const {
  StripeError,
  StripeAuthenticationError,
  StripeCardError,
  StripeIdempotencyError,
  StripeInvalidRequestError,
  StripePermissionError,
} = Stripe.errors;

describe('error classes', () => {
  test('401 bad key: StripeAuthenticationError', async () => {
    const stranger = ctx.client('sk_test_thisKeyDoesNotExist0000000000');
    const err = await caught(() => stranger.customers.list());
    assert.ok(err instanceof StripeAuthenticationError, err);
    assert.ok(err instanceof StripeError);
    assert.equal(err.type, 'StripeAuthenticationError');
    assert.equal(err.statusCode, 401);
    assert.match(err.requestId, /^req_/);
    assert.ok(err.message);
  });

  test('400 unknown parameter: StripeInvalidRequestError with .param', async () => {
    const err = await caught(() =>
      ctx.stripe.customers.create({ email: 'x@example.com', favourite_colour: 'green' }),
    );
    assert.ok(err instanceof StripeInvalidRequestError, err);
    assert.equal(err.type, 'StripeInvalidRequestError');
    assert.equal(err.rawType, 'invalid_request_error');
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, 'parameter_unknown');
    assert.equal(err.param, 'favourite_colour');
    assert.match(err.requestId, /^req_/);

    const nested = await caught(() =>
      ctx.stripe.paymentIntents.create({ amount: 100, currency: 'usd', metadata: { a: '1' }, shipping_colour: 'x' }),
    );
    assert.ok(nested instanceof StripeInvalidRequestError);
    assert.equal(nested.param, 'shipping_colour');
  });

  test('400 invalid list parameters', async () => {
    let err = await caught(() => ctx.stripe.customers.list({ limit: 101 }));
    assert.ok(err instanceof StripeInvalidRequestError);
    assert.equal(err.statusCode, 400);
    assert.equal(err.param, 'limit');
    err = await caught(() => ctx.stripe.customers.list({ starting_after: 'cus_doesNotExist000000000' }));
    assert.ok(err instanceof StripeInvalidRequestError);
    assert.equal(err.statusCode, 404);
    assert.equal(err.code, 'resource_missing');
    assert.equal(err.param, 'starting_after');
  });

  test('404 missing object: StripeInvalidRequestError resource_missing', async () => {
    for (const call of [
      () => ctx.stripe.customers.retrieve('cus_doesNotExist000000000'),
      () => ctx.stripe.paymentIntents.retrieve('pi_doesNotExist000000000'),
      () => ctx.stripe.refunds.retrieve('re_doesNotExist000000000'),
      () => ctx.stripe.charges.retrieve('ch_doesNotExist000000000'),
      () => ctx.stripe.events.retrieve('evt_doesNotExist000000000'),
      () => ctx.stripe.paymentMethods.retrieve('pm_doesNotExist000000000'),
    ]) {
      const err = await caught(call);
      assert.ok(err instanceof StripeInvalidRequestError, err);
      assert.equal(err.statusCode, 404);
      assert.equal(err.code, 'resource_missing');
      assert.match(err.message, /doesNotExist000000000/);
    }
    const err = await caught(() => ctx.stripe.customers.retrieve('cus_doesNotExist000000000'));
    assert.equal(err.param, 'id');
  });

  test('402 decline: StripeCardError with .code, .decline_code and the failed intent', async () => {
    const customer = await ctx.stripe.customers.create({ email: `decline-${unique()}@example.com` });
    const method = await newCard(ctx.stripe, '4000000000009995');
    const err = await caught(() =>
      ctx.stripe.paymentIntents.create({
        amount: 1234,
        currency: 'usd',
        customer: customer.id,
        payment_method: method.id,
        confirm: true,
      }),
    );
    assert.ok(err instanceof StripeCardError, err);
    assert.equal(err.type, 'StripeCardError');
    assert.equal(err.rawType, 'card_error');
    assert.equal(err.statusCode, 402);
    assert.equal(err.code, 'card_declined');
    assert.equal(err.decline_code, 'insufficient_funds');
    assert.match(err.requestId, /^req_/);
    assert.match(err.charge, /^ch_/);

    const failed = err.payment_intent;
    assert.equal(failed.object, 'payment_intent');
    assert.equal(failed.status, 'requires_payment_method');
    assert.equal(failed.last_payment_error.code, 'card_declined');
    assert.equal(failed.last_payment_error.decline_code, 'insufficient_funds');

    // A good card can still pay it.
    const paid = await ctx.stripe.paymentIntents.confirm(failed.id, {
      payment_method: (await newCard(ctx.stripe, VISA)).id,
    });
    assert.equal(paid.status, 'succeeded');
    assert.equal(paid.last_payment_error, null);

    const charge = await ctx.stripe.charges.retrieve(err.charge);
    assert.equal(charge.status, 'failed');
    assert.equal(charge.failure_code, 'card_declined');
  });

  for (const [number, code, declineCode] of [
    ['4000000000000002', 'card_declined', 'generic_decline'],
    ['4000000000009987', 'card_declined', 'lost_card'],
    ['4000000000009979', 'card_declined', 'stolen_card'],
    ['4100000000000019', 'card_declined', 'fraudulent'],
    ['4000000000000069', 'expired_card', null],
    ['4000000000000127', 'incorrect_cvc', null],
    ['4000000000000119', 'processing_error', null],
  ]) {
    test(`402 ${number}: StripeCardError ${code}${declineCode ? `/${declineCode}` : ''}`, async () => {
      const method = await newCard(ctx.stripe, number);
      const err = await caught(() =>
        ctx.stripe.paymentIntents.create({ amount: 500, currency: 'usd', payment_method: method.id, confirm: true }),
      );
      assert.ok(err instanceof StripeCardError, err);
      assert.equal(err.statusCode, 402);
      assert.equal(err.code, code);
      if (declineCode) {
        assert.equal(err.decline_code, declineCode);
      }
      assert.equal(err.payment_intent.status, 'requires_payment_method');
    });
  }

  for (const [extra, code, param] of [
    [{ exp_month: 13 }, 'invalid_expiry_month', 'exp_month'],
    [{ exp_year: 2019 }, 'invalid_expiry_year', 'exp_year'],
    [{ cvc: '12' }, 'invalid_cvc', 'cvc'],
  ]) {
    test(`402 invalid card details: StripeCardError ${code} on card[${param}]`, async () => {
      const err = await caught(() => newCard(ctx.stripe, VISA, extra));
      assert.ok(err instanceof StripeCardError, err);
      assert.equal(err.statusCode, 402);
      assert.equal(err.code, code);
      assert.equal(err.param, `card[${param}]`);
    });
  }

  test('402 failing Luhn: StripeCardError incorrect_number', async () => {
    const err = await caught(() => newCard(ctx.stripe, '4242424242424241'));
    assert.ok(err instanceof StripeCardError, err);
    assert.equal(err.code, 'incorrect_number');
    assert.equal(err.param, 'card[number]');
  });

  test('400 same idempotency key, other parameters: StripeIdempotencyError', async () => {
    const u = unique();
    const key = `idem-mismatch-${u}`;
    await ctx.stripe.customers.create({ email: `m-${u}@example.com` }, { idempotencyKey: key });
    const err = await caught(() =>
      ctx.stripe.customers.create({ email: `different-${u}@example.com` }, { idempotencyKey: key }),
    );
    assert.ok(err instanceof StripeIdempotencyError, err);
    assert.equal(err.type, 'StripeIdempotencyError');
    assert.equal(err.rawType, 'idempotency_error');
    assert.equal(err.statusCode, 400);
  });

  test('403 publishable key listing intents: StripePermissionError', async () => {
    const publishable = ctx.client(ctx.merchant.publishable_key);
    const err = await caught(() => publishable.paymentIntents.list());
    assert.ok(err instanceof StripePermissionError, err);
    assert.equal(err.type, 'StripePermissionError');
    assert.equal(err.statusCode, 403);
    assert.match(err.requestId, /^req_/);

    const create = await caught(() => publishable.customers.create({ email: 'p@example.com' }));
    assert.ok(create instanceof StripePermissionError, create);

    // What a publishable key may do: create a payment method.
    const method = await newCard(publishable, VISA);
    assert.match(method.id, /^pm_/);
  });
});
