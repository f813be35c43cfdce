import { randomBytes } from 'node:crypto';
import { emailCreated, smsCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { svixHeaders, svixSignature } from './helpers/svix';

let database: TestDatabase;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  // No workers: these tests look at what the receiver records and queues.
  harness = await startHarness(testConfig(database.url));
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

function post(body: string, headers: Record<string, string>): Promise<Response> {
  return harness.request('/webhooks/clerk', { method: 'POST', headers, body });
}

const signed = (event: unknown, opts?: Parameters<typeof svixHeaders>[2]) => {
  const body = JSON.stringify(event);
  return post(body, svixHeaders(TEST_CLERK_SECRET, body, opts));
};

describe('signature', () => {
  it('accepts a valid signature and records and queues the message', async () => {
    const event = emailCreated();
    const res = await signed(event);
    expect(res.status).toBe(202);
    const body = await json(res);
    expect(body).toEqual({ message_id: expect.stringMatching(/^msg_/), status: 'queued' });

    const row = await database.db.message.findUniqueOrThrow({ where: { id: body.message_id }, include: { events: true } });
    expect(row).toMatchObject({
      source: 'clerk',
      externalId: event.data.id,
      channel: 'email',
      template: 'verification_code',
      recipient: event.data.to_email_address,
      userId: event.data.user_id,
      status: 'queued',
    });
    expect(row.events.map((e) => e.type)).toEqual(['received']);
    const job = await harness.container.queues.send.getJob(body.message_id);
    expect(job?.data).toEqual({ messageId: body.message_id });
  });

  it('answers without an ETag: no webhook answer is ever revalidated, so hashing each one would be CPU for nothing', async () => {
    const res = await signed(emailCreated());
    expect(res.status).toBe(202);
    expect(res.headers.get('etag')).toBeNull();
    await json(res);
  });

  it('logs one request line carrying the request id and the message id, first receipt and repeat alike', async () => {
    const event = emailCreated();
    const body = JSON.stringify(event);
    const requestLines = (requestId: string) =>
      harness.logs.lines.map((l) => JSON.parse(l)).filter((l) => l.req_id === requestId && l.msg === 'request');
    const first = await post(body, { ...svixHeaders(TEST_CLERK_SECRET, body), 'x-request-id': 'req-first' });
    const again = await post(body, { ...svixHeaders(TEST_CLERK_SECRET, body), 'x-request-id': 'req-again' });
    const { message_id } = await json(first);
    await json(again);
    expect(requestLines('req-first')).toEqual([expect.objectContaining({ path: '/webhooks/clerk', status: 202, message_id })]);
    expect(requestLines('req-again')).toEqual([expect.objectContaining({ status: 200, message_id })]);
  });

  it('rejects a signature made with another secret', async () => {
    const body = JSON.stringify(emailCreated());
    const other = `whsec_${randomBytes(24).toString('base64')}`;
    const res = await post(body, svixHeaders(other, body));
    expect(res.status).toBe(401);
    expect((await json(res)).error.code).toBe('invalid_signature');
  });

  it('rejects a tampered body', async () => {
    const event = emailCreated();
    const body = JSON.stringify(event);
    const headers = svixHeaders(TEST_CLERK_SECRET, body);
    const tampered = body.replace(event.data.to_email_address, 'attacker@evil.example');
    expect((await post(tampered, headers)).status).toBe(401);
    expect(await database.db.message.count({ where: { externalId: event.data.id } })).toBe(0);
  });

  it('rejects missing signature headers', async () => {
    const body = JSON.stringify(emailCreated());
    const res = await post(body, { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
    expect((await json(res)).error.message).toMatch(/Missing required headers/);
  });

  it.each([
    ['6 minutes old', -360],
    ['6 minutes in the future', 360],
  ])('rejects a timestamp %s', async (_label, offset) => {
    const res = await signed(emailCreated(), { timestamp: Math.floor(Date.now() / 1000) + offset });
    expect(res.status).toBe(401);
    expect((await json(res)).error.message).toMatch(/timestamp too (old|new)/);
  });

  it('accepts a timestamp 4 minutes old', async () => {
    expect((await signed(emailCreated(), { timestamp: Math.floor(Date.now() / 1000) - 240 })).status).toBe(202);
  });

  it('accepts a rotated secret: two signatures, one of them ours', async () => {
    const body = JSON.stringify(emailCreated());
    const id = 'msg_rotation';
    const ts = Math.floor(Date.now() / 1000);
    const oldSecret = `whsec_${randomBytes(24).toString('base64')}`;
    const res = await post(
      body,
      svixHeaders(TEST_CLERK_SECRET, body, { id, timestamp: ts, extraSignatures: [svixSignature(oldSecret, id, ts, body)] }),
    );
    expect(res.status).toBe(202);
  });
});

describe('payloads', () => {
  it('redacts the code from what it keeps, and keeps the clear content only for sending', async () => {
    const event = emailCreated({ otp: '918273' });
    const { message_id } = await json(await signed(event));
    const message = await database.db.message.findUniqueOrThrow({ where: { id: message_id }, include: { content: true } });
    expect(message.subject).toBe('[redacted] is your verification code');
    expect(JSON.stringify(message.content!.redacted)).not.toContain('918273');
    expect(message.content!.payload).toMatchObject({ channel: 'email', subject: '918273 is your verification code' });
    expect(message.expiresAt).not.toBeNull();
    expect(harness.logs.text()).not.toContain('918273');
  });

  it('redacts a magic link wherever it appears: as is, HTML-escaped and inside another URL', async () => {
    const link = 'https://accounts.acme.example/v1/verify?redirect_url=https%3A%2F%2Facme.example&token=eyJhbGciOiJSUzI1NiJ9.SECRET';
    const event = emailCreated({
      data: {
        slug: 'magic_link_sign_in',
        subject: 'Sign in to Acme',
        body: `<a href="${link.replace(/&/g, '&amp;')}">Sign in</a> or <a href="https://safe.example/go?to=${encodeURIComponent(link)}">here</a>`,
        body_plain: `Sign in: ${link}`,
        data: { magic_link: link, app: { name: 'Acme' } },
      },
    });
    const res = await signed(event);
    expect(res.status).toBe(202);
    const content = await database.db.messageContent.findUniqueOrThrow({ where: { messageId: (await json(res)).message_id } });
    expect(JSON.stringify(content.redacted)).not.toMatch(/SECRET/);
    expect(content.redacted).toMatchObject({ text: 'Sign in: [redacted]' });
  });

  it('treats an invitation link as a secret too, though the message carries no code', async () => {
    const ticket = 'https://accounts.acme.example/sign-up?__clerk_ticket=ticket_SECRET123';
    const event = emailCreated({
      data: {
        slug: 'invitation',
        subject: 'You are invited',
        body: `<a href="${ticket}">Accept</a>`,
        body_plain: `Accept: ${ticket}`,
        data: { action_url: ticket },
      },
    });
    const res = await signed(event);
    const message = await database.db.message.findUniqueOrThrow({
      where: { id: (await json(res)).message_id },
      include: { content: true },
    });
    expect(message.expiresAt).toBeNull();
    expect(JSON.stringify(message.content!.redacted)).not.toContain('ticket_SECRET123');
    expect(message.content!.payload).toMatchObject({ text: `Accept: ${ticket}` });
  });

  it("delivers an unknown slug with Clerk's rendered content, not code-bearing", async () => {
    const event = emailCreated({ data: { slug: 'brand_new_template', data: { app: { name: 'Acme' } }, subject: 'Welcome' } });
    const res = await signed(event);
    expect(res.status).toBe(202);
    const message = await database.db.message.findUniqueOrThrow({ where: { id: (await json(res)).message_id } });
    expect(message).toMatchObject({ template: 'brand_new_template', subject: 'Welcome', expiresAt: null });
  });

  it('records sms.created with the code redacted from the rendered text', async () => {
    const event = smsCreated();
    const res = await signed(event);
    expect(res.status).toBe(202);
    const message = await database.db.message.findUniqueOrThrow({
      where: { id: (await json(res)).message_id },
      include: { content: true },
    });
    expect(message).toMatchObject({ channel: 'sms', recipient: '+447700900123', template: 'verification_code' });
    expect(message.content!.redacted).toEqual({ channel: 'sms', body: 'Your Acme verification code is [redacted]' });
  });

  it('ignores messages Clerk delivers itself', async () => {
    const event = emailCreated({ data: { delivered_by_clerk: true } });
    const res = await signed(event);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ ignored: true, reason: 'delivered by Clerk' });
    expect(await database.db.message.count({ where: { externalId: event.data.id } })).toBe(0);
  });

  it('ignores other event types', async () => {
    const res = await signed({ type: 'user.created', object: 'event', data: { id: 'user_1' } });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ ignored: true, reason: 'event type user.created is not delivered by auth-relay' });
  });

  it('answers 422 to a signed body that is not JSON', async () => {
    const body = '{"type": "email.created", ';
    const res = await post(body, svixHeaders(TEST_CLERK_SECRET, body));
    expect(res.status).toBe(422);
    expect((await json(res)).error).toEqual({ code: 'invalid_request', message: 'Body is not valid JSON' });
  });

  it('answers 422 naming the field when a signed event is missing what we need', async () => {
    const event = emailCreated();
    delete (event.data as Partial<typeof event.data>).to_email_address;
    const res = await signed(event);
    expect(res.status).toBe(422);
    expect((await json(res)).error.message).toMatch(/data\.to_email_address/);
  });

  it('answers 422 to text Postgres cannot store (a NUL character), without failing the webhooks written with it', async () => {
    const poisoned = emailCreated({ data: { subject: 'Your code\u0000' } });
    const others = Array.from({ length: 6 }, () => emailCreated());
    // In flight together, so the good ones share a write with the bad one if it gets that far.
    const [bad, ...good] = await Promise.all([poisoned, ...others].map((e) => signed(e)));
    expect(bad!.status).toBe(422);
    expect((await json(bad!)).error.message).toMatch(/NUL/);
    expect(good.map((r) => r.status)).toEqual(others.map(() => 202));
    expect(await database.db.message.count({ where: { externalId: poisoned.data.id } })).toBe(0);
  });

  it('answers 413 to a body over 256 KB, before anything else', async () => {
    const event = emailCreated({ data: { body: 'x'.repeat(300 * 1024) } });
    const res = await signed(event);
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe('payload_too_large');
  });
});

describe('idempotency', () => {
  it('records one message when the same webhook arrives 5 times at once', async () => {
    const event = emailCreated();
    const body = JSON.stringify(event);
    const headers = svixHeaders(TEST_CLERK_SECRET, body, { id: 'msg_same' });
    const responses = await Promise.all(Array.from({ length: 5 }, () => post(body, headers)));
    const bodies = await Promise.all(responses.map(json));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 202]);
    expect(new Set(bodies.map((b) => b.message_id)).size).toBe(1);
    expect(await database.db.message.count({ where: { externalId: event.data.id } })).toBe(1);
    const jobs = await harness.container.queues.send.getJobs(['wait']);
    expect(jobs.filter((j) => j.data.messageId === bodies[0].message_id)).toHaveLength(1);
  });

  it('records and queues each of 40 different webhooks arriving together, repeats among them once', async () => {
    const events = Array.from({ length: 20 }, () => emailCreated());
    // Each event twice, under different Svix ids, all in flight at once: they are written in shared groups.
    const responses = await Promise.all([...events, ...events].map((e) => signed(e)));
    expect(responses.filter((r) => r.status === 202)).toHaveLength(20);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(20);
    const bodies = await Promise.all(responses.map(json));
    const ids = new Set(bodies.map((b) => b.message_id));
    expect(ids.size).toBe(20);
    const rows = await database.db.message.findMany({ where: { id: { in: [...ids] } }, include: { content: true, events: true } });
    expect(rows).toHaveLength(20);
    for (const row of rows) {
      expect(row.content).not.toBeNull();
      expect(row.events.map((e) => e.type)).toEqual(['received']);
      expect((await harness.container.queues.send.getJob(row.id))?.data).toEqual({ messageId: row.id });
    }
  });

  it('answers a later repeat with the same message id and its current status', async () => {
    const event = emailCreated();
    const first = await json(await signed(event));
    const again = await signed(event);
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual({ message_id: first.message_id, status: 'queued', duplicate: true });
  });
});

describe('configuration', () => {
  it('answers 503 saying what to set when no signing secret is configured', async () => {
    const unconfigured = await startHarness(testConfig(database.url, { CLERK_WEBHOOK_SIGNING_SECRET: undefined }));
    try {
      const body = JSON.stringify(emailCreated());
      const res = await unconfigured.request('/webhooks/clerk', { method: 'POST', headers: svixHeaders(TEST_CLERK_SECRET, body), body });
      expect(res.status).toBe(503);
      expect((await json(res)).error.message).toMatch(/CLERK_WEBHOOK_SIGNING_SECRET/);
    } finally {
      await unconfigured.close();
    }
  });
});

describe('admin token', () => {
  it.each([
    ['missing', undefined, 401],
    ['wrong', 'Bearer not-the-token', 401],
    ['right', `Bearer ${TEST_ADMIN_TOKEN}`, 200],
  ])('%s token', async (_label, authorization, status) => {
    const res = await harness.request('/api/messages', { headers: authorization ? { authorization } : {} });
    expect(res.status).toBe(status);
  });
});
