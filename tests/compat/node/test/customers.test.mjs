// Customers through the official `stripe` Node library: every call goes
// through the library's own request encoding, response parsing and error
// mapping; the only change from talking to Stripe is host/port/protocol.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Stripe, caught, collect, portcullis, unique } from './support/portcullis.mjs';

const ctx = portcullis();

const ADDRESS = {
  line1: '1 Portcullis Way',
  line2: 'Gatehouse',
  city: 'York',
  state: 'North Yorkshire',
  postal_code: 'YO1 7HH',
  country: 'GB',
};

describe('customers', () => {
  test('create with email, name, metadata and address', async () => {
    const u = unique();
    const email = `ada-${u}@example.com`;
    const customer = await ctx.stripe.customers.create({
      email,
      name: 'Ada Lovelace',
      description: 'first customer',
      phone: '+441234567890',
      metadata: { order: '6735', tier: 'gold' },
      address: ADDRESS,
    });
    assert.equal(customer.object, 'customer');
    assert.match(customer.id, /^cus_/);
    assert.equal(customer.email, email);
    assert.equal(customer.name, 'Ada Lovelace');
    assert.equal(customer.description, 'first customer');
    assert.equal(customer.phone, '+441234567890');
    assert.equal(customer.livemode, false);
    assert.ok(Number.isInteger(customer.created) && customer.created > 1_600_000_000);
    assert.deepEqual(customer.metadata, { order: '6735', tier: 'gold' });
    assert.deepEqual(customer.address, ADDRESS);
    assert.match(customer.lastResponse.requestId, /^req_/);
    assert.equal(customer.lastResponse.statusCode, 200);
  });

  test('retrieve gives the same object', async () => {
    const created = await ctx.stripe.customers.create({ email: `r-${unique()}@example.com`, metadata: { k: 'v' } });
    const fetched = await ctx.stripe.customers.retrieve(created.id);
    assert.equal(fetched.id, created.id);
    assert.equal(fetched.metadata.k, 'v');
    assert.deepEqual({ ...fetched }, { ...created });
  });

  test('update sets fields, unsets one metadata key and clears the description', async () => {
    const customer = await ctx.stripe.customers.create({
      email: `u-${unique()}@example.com`,
      description: 'to be cleared',
      metadata: { keep: '1', drop: '2' },
    });
    const updated = await ctx.stripe.customers.update(customer.id, {
      name: 'Renamed',
      description: '',
      metadata: { drop: '', added: '3' },
    });
    assert.equal(updated.id, customer.id);
    assert.equal(updated.name, 'Renamed');
    assert.equal(updated.description, null);
    assert.deepEqual(updated.metadata, { keep: '1', added: '3' });

    const again = await ctx.stripe.customers.retrieve(customer.id);
    assert.equal(again.name, 'Renamed');
    assert.equal(again.description, null);
    assert.deepEqual(again.metadata, { keep: '1', added: '3' });
    assert.equal(again.email, customer.email); // untouched fields stay
  });

  test('update with metadata "" clears all metadata, address "" clears the address', async () => {
    const customer = await ctx.stripe.customers.create({
      email: `c-${unique()}@example.com`,
      metadata: { a: '1', b: '2' },
      address: ADDRESS,
    });
    const updated = await ctx.stripe.customers.update(customer.id, { metadata: '', address: '' });
    assert.deepEqual(updated.metadata, {});
    assert.equal(updated.address, null);
  });

  test('del, then retrieve shows deleted; update is 404', async () => {
    const customer = await ctx.stripe.customers.create({ email: `d-${unique()}@example.com` });
    const deleted = await ctx.stripe.customers.del(customer.id);
    assert.deepEqual({ ...deleted }, { id: customer.id, object: 'customer', deleted: true });

    const fetched = await ctx.stripe.customers.retrieve(customer.id);
    assert.equal(fetched.id, customer.id);
    assert.equal(fetched.deleted, true);

    const err = await caught(() => ctx.stripe.customers.update(customer.id, { name: 'ghost' }));
    assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err);
    assert.equal(err.statusCode, 404);
    assert.equal(err.code, 'resource_missing');
  });

  test('list auto-pagination with for await sees each of 27 customers once, newest first', async () => {
    // A merchant of its own, so the list holds exactly what this test made.
    const { stripe } = await ctx.newMerchant('Paging');
    const created = [];
    for (let i = 0; i < 27; i++) {
      created.push((await stripe.customers.create({ email: `page${i}@example.com`, name: `P ${i}` })).id);
    }
    const firstPage = await stripe.customers.list({ limit: 10 });
    assert.equal(firstPage.object, 'list');
    assert.equal(firstPage.url, '/v1/customers');
    assert.equal(firstPage.has_more, true);
    assert.equal(firstPage.data.length, 10);

    const seen = (await collect(stripe.customers.list({ limit: 10 }))).map((c) => c.id);
    assert.equal(seen.length, 27);
    assert.equal(new Set(seen).size, 27);
    assert.deepEqual(seen, [...created].reverse());

    // The library's other way to page: autoPagingToArray, and autoPagingEach.
    const array = await stripe.customers.list({ limit: 4 }).autoPagingToArray({ limit: 100 });
    assert.deepEqual(
      array.map((c) => c.id),
      [...created].reverse(),
    );
    const each = [];
    await stripe.customers.list({ limit: 7 }).autoPagingEach((c) => {
      each.push(c.id);
    });
    assert.deepEqual(each, [...created].reverse());
  });

  test('list auto-pagination backwards with ending_before', async () => {
    const { stripe } = await ctx.newMerchant('Backwards');
    const created = [];
    for (let i = 0; i < 12; i++) {
      created.push((await stripe.customers.create({ name: `B ${i}` })).id);
    }
    // Everything newer than the oldest one, fetched page by page backwards.
    const seen = (await collect(stripe.customers.list({ limit: 5, ending_before: created[0] }))).map((c) => c.id);
    assert.equal(new Set(seen).size, seen.length);
    assert.deepEqual(seen, created.slice(1)); // oldest first when walking backwards
  });

  test('list filter by email', async () => {
    const u = unique();
    const email = `filter-${u}@example.com`;
    const wanted = new Set();
    for (let i = 0; i < 3; i++) {
      wanted.add((await ctx.stripe.customers.create({ email, name: `F${i}` })).id);
    }
    await ctx.stripe.customers.create({ email: `other-${u}@example.com` });
    const listed = await ctx.stripe.customers.list({ email, limit: 100 });
    assert.deepEqual(new Set(listed.data.map((c) => c.id)), wanted);
    assert.ok(listed.data.every((c) => c.email === email));
    assert.equal(listed.has_more, false);
    assert.deepEqual((await ctx.stripe.customers.list({ email: `nobody-${u}@example.com` })).data, []);
  });

  test('search by email and name, with auto-pagination', async () => {
    const u = unique();
    const email = `search-${u}@example.com`;
    const byEmail = await ctx.stripe.customers.create({ email, name: `Grace Hopper ${u}` });
    const other = await ctx.stripe.customers.create({ email: `else-${u}@example.com`, name: `Grace Brewster ${u}` });

    let found = await ctx.stripe.customers.search({ query: `email:'${email}'` });
    assert.equal(found.object, 'search_result');
    assert.deepEqual(
      found.data.map((c) => c.id),
      [byEmail.id],
    );
    assert.equal(found.data[0].object, 'customer');

    found = await ctx.stripe.customers.search({ query: `name~'Hopper ${u}'` });
    assert.deepEqual(
      found.data.map((c) => c.id),
      [byEmail.id],
    );
    found = await ctx.stripe.customers.search({ query: `name~'${u}'`, limit: 100 });
    assert.deepEqual(new Set(found.data.map((c) => c.id)), new Set([byEmail.id, other.id]));
    assert.deepEqual((await ctx.stripe.customers.search({ query: `email:'none-${u}@example.com'` })).data, []);

    const made = new Set();
    for (let i = 0; i < 7; i++) {
      made.add((await ctx.stripe.customers.create({ name: `Pager ${u} ${i}` })).id);
    }
    const page = await ctx.stripe.customers.search({ query: `name~'Pager ${u}'`, limit: 3 });
    assert.equal(page.has_more, true);
    assert.ok(page.next_page, 'a search page with more has next_page');
    const seen = (await collect(ctx.stripe.customers.search({ query: `name~'Pager ${u}'`, limit: 3 }))).map(
      (c) => c.id,
    );
    assert.equal(seen.length, 7);
    assert.deepEqual(new Set(seen), made);
  });

  test('deleted customers leave list and search', async () => {
    const u = unique();
    const email = `gone-${u}@example.com`;
    const kept = await ctx.stripe.customers.create({ email, name: `Kept ${u}` });
    const gone = await ctx.stripe.customers.create({ email, name: `Gone ${u}` });
    await ctx.stripe.customers.del(gone.id);
    assert.deepEqual(
      (await ctx.stripe.customers.list({ email })).data.map((c) => c.id),
      [kept.id],
    );
    assert.deepEqual(
      (await ctx.stripe.customers.search({ query: `name~'${u}'` })).data.map((c) => c.id),
      [kept.id],
    );
  });

  test('customers are scoped to their merchant, idempotency keys too', async () => {
    const other = await ctx.newMerchant('Other');
    const u = unique();
    const mine = await ctx.stripe.customers.create({ email: `mine-${u}@example.com` });
    const err = await caught(() => other.stripe.customers.retrieve(mine.id));
    assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(err.statusCode, 404);
    assert.deepEqual((await other.stripe.customers.list()).data, []);

    const key = `shared-${u}`;
    const first = await ctx.stripe.customers.create({ email: `a-${u}@example.com` }, { idempotencyKey: key });
    const second = await other.stripe.customers.create({ email: `b-${u}@example.com` }, { idempotencyKey: key });
    assert.notEqual(second.id, first.id);
    assert.equal(second.email, `b-${u}@example.com`);
  });

  test('per-request apiKey option', async () => {
    const other = await ctx.newMerchant('PerRequest');
    const made = await ctx.stripe.customers.create({ name: 'via option' }, { apiKey: other.secret_key });
    assert.deepEqual(
      (await other.stripe.customers.list()).data.map((c) => c.id),
      [made.id],
    );
  });

  test('idempotent replay returns the same customer with Idempotent-Replayed', async () => {
    const u = unique();
    const key = `idem-${u}`;
    const email = `i-${u}@example.com`;
    const first = await ctx.stripe.customers.create({ email }, { idempotencyKey: key });
    const second = await ctx.stripe.customers.create({ email }, { idempotencyKey: key });
    assert.equal(second.id, first.id);
    assert.deepEqual({ ...second }, { ...first });
    assert.equal(first.lastResponse.headers['idempotent-replayed'], undefined);
    assert.equal(second.lastResponse.headers['idempotent-replayed'], 'true');
    assert.equal((await ctx.stripe.customers.list({ email })).data.length, 1);
  });

  test('responses echo Idempotency-Key and Stripe-Version (lastResponse.idempotencyKey, .apiVersion)', async () => {
    const key = `echo-${unique()}`;
    const created = await ctx.stripe.customers.create({ name: 'echo' }, { idempotencyKey: key });
    assert.equal(created.lastResponse.idempotencyKey, key);
    assert.equal(created.lastResponse.apiVersion, Stripe.API_VERSION);
  });

  test('a request rejected by validation does not use up its idempotency key', async () => {
    const u = unique();
    const key = `idem-rejected-${u}`;
    const err = await caught(() =>
      ctx.stripe.customers.create({ email: `x-${u}@example.com`, bogus: '1' }, { idempotencyKey: key }),
    );
    assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
    const created = await ctx.stripe.customers.create({ email: `y-${u}@example.com` }, { idempotencyKey: key });
    assert.equal(created.email, `y-${u}@example.com`);
  });
});
