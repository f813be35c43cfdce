import { createPrisma } from '../src/db/prisma';
import { sqlOf } from '../src/db/sql';
import { createMessageStore, type MessageChange, type MessageStore } from '../src/delivery/message-store';
import type { MessageStatus } from '../src/generated/prisma/enums';
import { newId } from '../src/lib/ids';
import { MESSAGE_IN_PAYLOAD, messageIn as messageInDb } from './helpers/seed';
import { createTestDatabase, PG_BASE, type TestDatabase } from './helpers/db';

/*
 * Concurrent send runs in one process share their claim and `sent` statements (group commit): the first is
 * written at once, those arriving meanwhile together in the next statement, each caller answered for its own
 * message as if its statement had run alone.
 */

let database: TestDatabase;
let store: MessageStore;
let changes: MessageChange[];
let statements: jest.SpiedFunction<ReturnType<typeof sqlOf>['rows']>;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => database.drop());

beforeEach(() => {
  changes = [];
  store = createMessageStore({ db: database.db, onChange: (change) => void changes.push(change) });
  statements = jest.spyOn(sqlOf(database.db), 'rows');
});

afterEach(() => statements.mockRestore());

const payload = MESSAGE_IN_PAYLOAD;
const messageIn = (status: MessageStatus, extra?: Parameters<typeof messageInDb>[2]) => messageInDb(database.db, status, extra);

const statusOf = async (id: string) => (await database.db.message.findUniqueOrThrow({ where: { id } })).status;
const later = (at: Date, ms: number) => new Date(at.getTime() + ms);

describe('claims', () => {
  it('answers each of a batch of concurrent claims for its own message, in one statement after the first', async () => {
    const at = new Date();
    const [first, claimable, leased, settled, expired] = await Promise.all([
      messageIn('queued'),
      messageIn('queued'),
      messageIn('sending', { leaseUntil: later(at, 60_000) }),
      messageIn('delivered'),
      messageIn('queued', { expiresAt: at }),
    ]);
    const lease = later(at, 30_000);
    const queuedAt = later(at, -1_000);
    const claims = await Promise.all(
      [first, claimable, leased, settled, expired, newId('msg')].map((id) => store.claimForSend(id, at, lease, queuedAt)),
    );
    expect(claims).toMatchObject([
      { claimed: true, queuedRecorded: true, message: { id: first, status: 'queued' } },
      { claimed: true, queuedRecorded: true, message: { id: claimable, status: 'queued', content: { payload } } },
      { claimed: false, queuedRecorded: false, message: { id: leased, status: 'sending' } },
      { claimed: false, queuedRecorded: false, message: { id: settled, status: 'delivered' } },
      { claimed: false, queuedRecorded: false, message: { id: expired, expiresAt: at } },
      null,
    ]);
    // The first found nothing in flight and went alone; the five arriving meanwhile went together.
    expect(statements).toHaveBeenCalledTimes(2);
    expect(await Promise.all([first, claimable, leased, settled, expired].map(statusOf))).toEqual([
      'sending',
      'sending',
      'sending',
      'delivered',
      'queued',
    ]);
    expect(changes.map((c) => [c.messageId, c.event.type])).toEqual([
      [first, 'queued'],
      [claimable, 'queued'],
    ]);
  });

  it('claims a message asked for twice at once only once, as two statements one after the other would', async () => {
    const at = new Date();
    const [other, twice] = await Promise.all([messageIn('queued'), messageIn('queued')]);
    const lease = later(at, 30_000);
    const claims = await Promise.all([other, twice, other, twice].map((id) => store.claimForSend(id, at, lease, at)));
    expect(claims.map((c) => c?.claimed)).toEqual([true, true, false, false]);
    expect(claims.map((c) => c?.message.status)).toEqual(['queued', 'queued', 'sending', 'sending']);
    // [other] alone, then [twice, other] (the second `other` waits), then [twice].
    expect(statements).toHaveBeenCalledTimes(3);
    const queuedEvents = await database.db.messageEvent.count({ where: { messageId: { in: [other, twice] }, type: 'queued' } });
    expect(queuedEvents).toBe(2);
  });

  it("fails only its own caller when one message's data fails the batch's statement", async () => {
    const at = new Date();
    const [first, good] = await Promise.all([messageIn('queued'), messageIn('queued')]);
    const lease = later(at, 30_000);
    const claims = await Promise.allSettled([first, 'msg_\u0000bad', good].map((id) => store.claimForSend(id, at, lease, null)));
    expect(claims.map((c) => c.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(claims[2]).toMatchObject({ value: { claimed: true, message: { id: good } } });
  });

  it('rejects every caller of a batch whose statement fails', async () => {
    const missing = createPrisma(`${PG_BASE}/auth_relay_test_missing_${newId('db').toLowerCase()}`, 2);
    const unreachable = createMessageStore({ db: missing });
    const runs = jest.spyOn(sqlOf(missing), 'rows');
    try {
      const at = new Date();
      const claims = await Promise.allSettled(
        [newId('msg'), newId('msg'), newId('msg')].map((id) => unreachable.claimForSend(id, at, later(at, 30_000), null)),
      );
      expect(claims.map((c) => c.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(claims[2]).toMatchObject({ reason: { code: '3D000' } });
      expect(runs).toHaveBeenCalledTimes(2);
    } finally {
      await missing.$disconnect();
    }
  });
});

describe('sent records', () => {
  const sent = (providerMessageId = `pm_${newId('x')}`) => ({
    provider: 'resend',
    providerMessageId,
    sentAt: new Date(),
    detail: {},
    headers: { 'X-Entity-Ref-ID': 'ref' },
    dropPayload: true,
  });

  it('records each of a batch only from in flight, in one statement after the first', async () => {
    const [first, sending, delivered] = await Promise.all([messageIn('sending'), messageIn('sending'), messageIn('delivered')]);
    const recorded = await Promise.all([first, sending, delivered].map((id) => store.markSent(id, sent())));
    expect(recorded).toEqual([true, true, false]);
    expect(statements).toHaveBeenCalledTimes(2);
    expect(await Promise.all([first, sending, delivered].map(statusOf))).toEqual(['sent', 'sent', 'delivered']);
    const contents = await database.db.messageContent.findMany({ where: { messageId: { in: [first, sending, delivered] } } });
    expect(
      contents
        .filter((c) => c.payload === null)
        .map((c) => c.messageId)
        .sort(),
    ).toEqual([first, sending].sort());
    expect(changes.map((c) => [c.messageId, c.event.type])).toEqual([
      [first, 'sent'],
      [sending, 'sent'],
    ]);
  });

  it("records the others when one provider's answer cannot be stored", async () => {
    const [first, bad, good] = await Promise.all([messageIn('sending'), messageIn('sending'), messageIn('sending')]);
    const recorded = await Promise.allSettled([
      store.markSent(first, sent()),
      store.markSent(bad, sent('pm_\u0000')),
      store.markSent(good, sent()),
    ]);
    expect(recorded.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await Promise.all([first, bad, good].map(statusOf))).toEqual(['sent', 'sending', 'sent']);
  });

  it('records each of a batch alone when the batch statement fails for the connection, not only for its data', async () => {
    const [first, second, third] = await Promise.all([messageIn('sending'), messageIn('sending'), messageIn('sending')]);
    // The batch of the second and third is cut off as a connection would be; alone, each goes through.
    statements.mockRestore();
    const sql = sqlOf(database.db);
    const original = sql.rows.bind(sql);
    statements = jest.spyOn(sql, 'rows').mockImplementation(async (statement, values) => {
      if (statement.name === 'send_sent_batch' && (values[0] as string[]).length > 1) {
        throw new Error('Connection terminated unexpectedly');
      }
      return original(statement, values);
    });
    // Each was taken by its provider: one cut connection must not leave them to be sent again.
    const recorded = await Promise.all([first, second, third].map((id) => store.markSent(id, sent())));
    expect(recorded).toEqual([true, true, true]);
    expect(await Promise.all([first, second, third].map(statusOf))).toEqual(['sent', 'sent', 'sent']);
  });
});
