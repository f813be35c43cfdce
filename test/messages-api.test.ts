import { Prisma } from '../src/db/prisma';
import { newId } from '../src/lib/ids';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { readsBesideWrites } from './helpers/reads-beside-writes';

let database: TestDatabase;
let harness: Harness;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const get = async (query: string) => {
  const res = await harness.request(`/api/messages${query}`, { headers: admin });
  return { status: res.status, body: await json(res) };
};

const base = Date.parse('2026-11-01T00:00:00Z');
type Seed = Partial<Prisma.MessageCreateManyInput>;
const seeds: Seed[] = [
  { recipient: 'ann@example.com', status: 'sent', provider: 'resend', template: 'verification_code', userId: 'user_ann' },
  { recipient: 'ann@example.com', status: 'bounced', provider: 'resend', template: 'reset_password_code', userId: 'user_ann' },
  { recipient: 'bob@example.org', status: 'failed', provider: 'autosend', template: 'verification_code' },
  { recipient: '+447700900123', channel: 'sms', status: 'sent', provider: 'unosend', template: 'verification_code' },
  { recipient: 'cy@example.com', status: 'queued', template: 'invitation' },
];

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url));
  await database.db.message.createMany({
    data: seeds.map((s, i) => ({
      id: newId('msg', base + i * 60_000),
      source: 'clerk',
      channel: 'email',
      createdAt: new Date(base + i * 60_000),
      ...s,
    })) as Prisma.MessageCreateManyInput[],
  });
  // 60 more, for paging.
  await database.db.message.createMany({
    data: Array.from({ length: 60 }, (_, i) => ({
      id: newId('msg', base + 3_600_000 + i),
      source: 'api' as const,
      channel: 'email' as const,
      recipient: `bulk${i}@example.net`,
      template: 'bulk',
      // Pairs share a timestamp, so the cursor must break ties by id.
      createdAt: new Date(base + 3_600_000 + Math.floor(i / 2) * 1000),
    })),
  });
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

describe('GET /api/messages', () => {
  it.each([
    ['?recipient=ANN@example.com', ['reset_password_code', 'verification_code']],
    ['?status=failed', ['verification_code']],
    ['?provider=unosend', ['verification_code']],
    ['?channel=sms', ['verification_code']],
    ['?template=invitation', ['invitation']],
    ['?user_id=user_ann&status=bounced', ['reset_password_code']],
    ['?since=2026-11-01T00:01:00Z&until=2026-11-01T00:03:00Z', ['verification_code', 'reset_password_code']],
  ])('filters %s', async (query, templates) => {
    const { status, body } = await get(query);
    expect(status).toBe(200);
    expect(body.data.map((m: { template: string }) => m.template)).toEqual(templates);
    expect(body.next_cursor).toBeNull();
  });

  it('pages newest first with a cursor, through ties, without repeats or gaps', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const { body }: { body: { data: { id: string; created_at: string }[]; next_cursor: string | null } } = await get(
        `?template=bulk&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...body.data.map((m) => m.id));
      cursor = body.next_cursor;
      pages += 1;
    }
    expect(pages).toBe(9);
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
    const all = await database.db.message.findMany({ where: { template: 'bulk' }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
    expect(seen).toEqual(all.map((m) => m.id));
  });

  it('lists changes oldest first with updated_since, paging through ties', async () => {
    // Later than every message's creation, so only the changes below are listed.
    const at = new Date(Date.now() + 60_000);
    const since = at;
    const bulk = await database.db.message.findMany({ where: { template: 'bulk' }, orderBy: { id: 'asc' }, take: 12 });
    // Half changed at one instant (ties on updated_at), the rest a moment later.
    for (const [i, m] of bulk.entries()) {
      await database.db.message.update({
        where: { id: m.id },
        data: { status: 'failed', updatedAt: new Date(at.getTime() + (i < 6 ? 0 : 5)) },
      });
    }
    const seen: { id: string; updated_at: string }[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const { status, body }: { status: number; body: { data: { id: string; updated_at: string }[]; next_cursor: string | null } } =
        await get(`?template=bulk&updated_since=${since.toISOString()}&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      seen.push(...body.data);
      cursor = body.next_cursor;
    }
    expect(seen.map((m) => m.id)).toEqual(bulk.map((m) => m.id));
    expect(seen.map((m) => m.updated_at)).toEqual([...seen.map((m) => m.updated_at)].sort());
    // A cursor from the newest-first listing does not page the changes.
    const { body: newest } = await get('?template=bulk&limit=2');
    const mixed = await get(`?template=bulk&updated_since=${since.toISOString()}&cursor=${newest.next_cursor}`);
    expect(mixed.status).toBe(422);
  });

  it.each([
    ['?limit=201', /limit: must be at most 200/],
    ['?updated_since=now', /updated_since: must be an ISO 8601 timestamp/],
    ['?status=lost', /status: /],
    ['?since=yesterday', /since: must be an ISO 8601 timestamp/],
    ['?cursor=garbage', /cursor: /],
    ['?colour=red', /Unrecognized key/],
  ])('answers 422 to %s', async (query, message) => {
    const { status, body } = await get(query);
    expect(status).toBe(422);
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(message);
  });

  it('answers with the contract shape', async () => {
    const { body } = await get('?provider=autosend');
    expect(Object.keys(body.data[0]).sort()).toEqual(
      [
        'id',
        'source',
        'external_id',
        'channel',
        'template',
        'recipient',
        'user_id',
        'provider',
        'provider_message_id',
        'status',
        'attempts',
        'subject',
        'last_error',
        'created_at',
        'sent_at',
        'delivered_at',
        'updated_at',
      ].sort(),
    );
  });
});

describe('GET /api/messages/:id', () => {
  it('answers the message with its events oldest first', async () => {
    const message = await database.db.message.findFirstOrThrow({ where: { status: 'bounced' } });
    await database.db.messageEvent.createMany({
      data: [
        {
          messageId: message.id,
          type: 'bounced',
          occurredAt: new Date(base + 3000),
          provider: 'resend',
          detail: { bounce: { type: 'Permanent' } },
        },
        { messageId: message.id, type: 'received', occurredAt: new Date(base + 1000) },
        { messageId: message.id, type: 'sent', occurredAt: new Date(base + 2000), provider: 'resend' },
      ],
    });
    const res = await harness.request(`/api/messages/${message.id}`, { headers: admin });
    const body = await json(res);
    expect(body.id).toBe(message.id);
    expect(body.events).toEqual([
      { type: 'received', occurred_at: '2026-11-01T00:00:01.000Z', provider: null, detail: {} },
      { type: 'sent', occurred_at: '2026-11-01T00:00:02.000Z', provider: 'resend', detail: {} },
      { type: 'bounced', occurred_at: '2026-11-01T00:00:03.000Z', provider: 'resend', detail: { bounce: { type: 'Permanent' } } },
    ]);
  });

  it.each([
    ['a filter', 'GET', '/api/messages?recipient=a%00b@example.com', undefined],
    ['a search', 'GET', '/api/messages?q=user%00', undefined],
    ['an id', 'GET', '/api/messages/msg_%00', undefined],
    ['a JSON body', 'POST', '/api/suppressions', { channel: 'email', recipient: 'a\u0000@example.com' }],
  ])('answers 422, not a database error, to a NUL character in %s', async (_label, method, path, body) => {
    const res = await harness.request(path, {
      method,
      headers: { ...admin, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(422);
    expect((await json(res)).error).toEqual({ code: 'invalid_request', message: expect.stringMatching(/NUL character \(U\+0000\)$/) });
  });

  it('answers a message and its events as of one moment, however fast they change beside the read', async () => {
    const { db } = database;
    const message = await db.message.create({
      data: { id: newId('msg'), source: 'api', channel: 'email', recipient: 'skew@example.com', createdAt: new Date(base) },
    });
    // As a send records itself: the event and the message's own fields in one transaction.
    const write = (n: number) => {
      const at = new Date(base + n * 1000);
      return db.$transaction([
        db.messageEvent.create({ data: { messageId: message.id, type: 'send_failed', occurredAt: at } }),
        db.message.update({ where: { id: message.id }, data: { attempts: n, updatedAt: at } }),
      ]);
    };
    const read = async () => {
      const body = await json(await harness.request(`/api/messages/${message.id}`, { headers: admin }));
      const events = body.events as { occurred_at: string }[];
      return events.length !== body.attempts || (events.length > 0 && events.at(-1)!.occurred_at !== body.updated_at)
        ? `${events.length} events beside attempts ${String(body.attempts)}, updated_at ${String(body.updated_at)}`
        : null;
    };
    const mismatches = await readsBesideWrites(write, read, 150);
    expect(mismatches).toEqual([]);
  });

  it('answers 404 for an unknown id', async () => {
    const res = await harness.request('/api/messages/msg_nope', { headers: admin });
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { code: 'not_found', message: 'No message msg_nope' } });
  });
});

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await json(await harness.request('/healthz'))).toEqual({ status: 'ok' });
    expect(await json(await harness.request('/readyz'))).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('answers unknown routes with the error shape', async () => {
    const res = await harness.request('/nope');
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe('not_found');
  });
});
