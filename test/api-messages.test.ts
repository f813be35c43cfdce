import { TEST_API_KEY, TEST_API_KEY_2, postV1 } from './helpers/api';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';

let database: TestDatabase;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(
    testConfig(database.url, { API_KEYS: `${TEST_API_KEY}, ${TEST_API_KEY_2}`, EMAIL_FROM: 'Acme <auth@acme.example>' }),
    {
      workers: true,
    },
  );
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const email = (overrides: Record<string, unknown> = {}) => ({
  channel: 'email',
  to: 'Maria@Example.com',
  subject: 'Welcome to Acme',
  html: '<p>Hello</p>',
  text: 'Hello',
  template: 'welcome',
  metadata: { account: 'acc_1' },
  ...overrides,
});

describe('authentication', () => {
  it.each([
    ['missing', 401, {}],
    ['wrong', 401, { authorization: 'Bearer not-a-key' }],
    ['first', 202, { authorization: `Bearer ${TEST_API_KEY}` }],
    ['second', 202, { authorization: `Bearer ${TEST_API_KEY_2}` }],
  ])('%s key → %i', async (_label, status, headers) => {
    const res = await harness.request('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(email()),
    });
    expect(res.status).toBe(status);
  });

  it('answers 503 naming API_KEYS when none is configured', async () => {
    const off = await startHarness(testConfig(database.url));
    try {
      const res = await postV1(off, '/messages', email());
      expect(res.status).toBe(503);
      expect((await json(res)).error.message).toMatch(/API_KEYS/);
    } finally {
      await off.close();
    }
  });

  it('never logs the key', () => {
    expect(harness.logs.text()).not.toContain(TEST_API_KEY);
  });
});

describe('sending', () => {
  it('sends an email through the pipeline and logs it with source api', async () => {
    const res = await postV1(harness, '/messages', email());
    expect(res.status).toBe(202);
    const body = await json(res);
    expect(body).toEqual({ message_id: expect.stringMatching(/^msg_/), status: 'queued' });
    await waitFor(async () => (await database.db.message.findUnique({ where: { id: body.message_id } }))?.status === 'sent');
    const mail = await database.db.outboxMessage.findUniqueOrThrow({ where: { messageId: body.message_id } });
    expect(mail).toMatchObject({
      to: 'maria@example.com',
      from: 'Acme <auth@acme.example>',
      subject: 'Welcome to Acme',
      html: '<p>Hello</p>',
    });
    const log = await json(
      await harness.request(`/api/messages/${body.message_id}`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } }),
    );
    expect(log).toMatchObject({ source: 'api', channel: 'email', template: 'welcome', status: 'sent' });
    expect(log.events.find((e: { type: string }) => e.type === 'received').detail).toMatchObject({ metadata: { account: 'acc_1' } });
    const requestLine = harness.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.message_id === body.message_id);
    expect(requestLine).toMatchObject({ path: '/v1/messages', status: 202, req_id: expect.any(String) });
  });

  it('sends an SMS', async () => {
    const res = await postV1(harness, '/messages', { channel: 'sms', to: '+447700900123', text: 'Your table is ready' });
    expect(res.status).toBe(202);
    const { message_id } = await json(res);
    const sms = await waitFor(() => database.db.outboxMessage.findUnique({ where: { messageId: message_id } }));
    expect(sms).toMatchObject({ channel: 'sms', to: '+447700900123', text: 'Your table is ready' });
  });

  it.each([
    ['an email without subject', { ...email(), subject: undefined }, /subject/],
    ['an email without html or text', { ...email(), html: undefined, text: undefined }, /html or text/],
    ['an email to a non-address', { ...email(), to: 'nobody' }, /to: must be an email address/],
    ['an SMS to a non-E.164 number', { channel: 'sms', to: '555 0100', text: 'x' }, /to: must be an E\.164/],
    ['an SMS without text', { channel: 'sms', to: '+447700900123' }, /text/],
    ['an SMS over 1600 characters', { channel: 'sms', to: '+447700900123', text: 'x'.repeat(1601) }, /text/],
    ['an unknown channel', { channel: 'pigeon', to: 'x' }, /channel/],
    ['an unknown field', { ...email(), unexpected: true }, /unexpected/],
  ])('refuses %s', async (_label, body, message) => {
    const res = await postV1(harness, '/messages', body);
    expect(res.status).toBe(422);
    expect((await json(res)).error.message).toMatch(message);
  });
});

describe('Idempotency-Key', () => {
  it('answers a repeat with the first answer and sends one message', async () => {
    const key = `order-${Date.now()}`;
    const body = email({ to: 'repeat@example.com' });
    const first = await postV1(harness, '/messages', body, { 'idempotency-key': key });
    const second = await postV1(harness, '/messages', body, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(second)).toEqual(await json(first));
    expect(await database.db.message.count({ where: { recipient: 'repeat@example.com' } })).toBe(1);
  });

  it('sends one message when the retry finds nothing in Redis (a crash before the answer was stored)', async () => {
    const key = `crash-${Date.now()}`;
    const body = email({ to: 'crash@example.com' });
    const first = await json(await postV1(harness, '/messages', body, { 'idempotency-key': key }));
    // What a crash between recording the message and storing the answer leaves behind once the claim expires.
    const { redis, config } = harness.container;
    const stored = await redis.keys(`${config.QUEUE_PREFIX}:idempotency:*`);
    expect(stored.length).toBeGreaterThan(0);
    await redis.del(...stored);

    const retry = await postV1(harness, '/messages', body, { 'idempotency-key': key });
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(retry)).message_id).toBe(first.message_id);
    expect(await database.db.message.count({ where: { recipient: 'crash@example.com' } })).toBe(1);
    const message = await database.db.message.findUniqueOrThrow({ where: { id: first.message_id } });
    expect(message.externalId).toMatch(new RegExp(`^key_[0-9a-f]{12}:${key}$`));
  });

  it('refuses the same key with another body with 409', async () => {
    const key = `order-${Date.now()}-b`;
    expect((await postV1(harness, '/messages', email({ subject: 'One' }), { 'idempotency-key': key })).status).toBe(202);
    const res = await postV1(harness, '/messages', email({ subject: 'Two' }), { 'idempotency-key': key });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('idempotency_key_reused');
  });

  it('sends one message when the same request arrives 5 times at once', async () => {
    const key = `order-${Date.now()}-c`;
    const body = email({ to: 'burst@example.com' });
    const responses = await Promise.all(Array.from({ length: 5 }, () => postV1(harness, '/messages', body, { 'idempotency-key': key })));
    expect(responses.filter((r) => r.status === 202).length).toBeGreaterThanOrEqual(1);
    for (const r of responses) expect([202, 409]).toContain(r.status);
    expect(await database.db.message.count({ where: { recipient: 'burst@example.com' } })).toBe(1);
  });

  it('keeps keys apart per API key', async () => {
    const key = `shared-${Date.now()}`;
    const a = await postV1(harness, '/messages', email({ to: 'scoped@example.com' }), { 'idempotency-key': key });
    const b = await postV1(harness, '/messages', email({ to: 'scoped@example.com' }), {
      'idempotency-key': key,
      authorization: `Bearer ${TEST_API_KEY_2}`,
    });
    expect((await json(a)).message_id).not.toBe((await json(b)).message_id);
  });

  it('does not keep the key of a request that failed validation', async () => {
    const key = `bad-${Date.now()}`;
    expect((await postV1(harness, '/messages', email({ to: 'nobody' }), { 'idempotency-key': key })).status).toBe(422);
    expect((await postV1(harness, '/messages', email(), { 'idempotency-key': key })).status).toBe(202);
  });

  it('answers 422 to a NUL character, which Postgres cannot store, and records nothing', async () => {
    const before = await database.db.message.count();
    const res = await postV1(harness, '/messages', email({ html: '<p>Hello\u0000</p>' }));
    expect(res.status).toBe(422);
    expect((await json(res)).error.message).toMatch(/NUL/);
    expect(await database.db.message.count()).toBe(before);
  });
});
