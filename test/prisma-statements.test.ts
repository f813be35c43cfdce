import { createPrisma, NAMED_STATEMENTS, type Db } from '../src/db/prisma';
import { sqlOf } from '../src/db/sql';
import type { NewMessage } from '../src/delivery/message-service';
import { FAKE_RESEND_KEY, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { startPgQueryCounter, type PgQueryCounter } from './helpers/pg-query-counter';

let database: TestDatabase;
const clients: Db[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.$disconnect()));
  await database.drop();
});

/** One connection, so pg_prepared_statements (per session) shows everything the client prepared. */
function oneConnectionClient(url: string): Db {
  const client = createPrisma(url, 1);
  clients.push(client);
  return client;
}

const ONE = { name: 'test_one', text: 'SELECT 1 AS n' };

async function preparedStatements(db: Db): Promise<string[]> {
  const rows = await db.$queryRaw<{ statement: string }[]>`SELECT statement FROM pg_prepared_statements`;
  return rows.map((r) => r.statement);
}

describe('prepared statements', () => {
  it('prepares a query once per connection and reuses it', async () => {
    const db = oneConnectionClient(database.url);
    for (let i = 0; i < 3; i++) await db.message.count({ where: { status: 'sent' } });
    const statements = await preparedStatements(db);
    expect(statements.filter((s) => s.includes('"messages"'))).toHaveLength(1);
  });

  it(`names the first ${NAMED_STATEMENTS} distinct statements and runs the rest unnamed`, async () => {
    const db = oneConnectionClient(database.url);
    for (let i = 0; i < NAMED_STATEMENTS + 50; i++) await db.$queryRawUnsafe(`SELECT ${i} AS n`);
    expect(await db.$queryRawUnsafe(`SELECT ${NAMED_STATEMENTS + 10} AS n`)).toEqual([{ n: NAMED_STATEMENTS + 10 }]);
    expect(await preparedStatements(db)).toHaveLength(NAMED_STATEMENTS);
  });

  it('names nothing behind a transaction-mode pooler (?pgbouncer=true), as Prisma does', async () => {
    const db = oneConnectionClient(`${database.url}?pgbouncer=true`);
    for (let i = 0; i < 3; i++) await db.message.count();
    for (let i = 0; i < 3; i++) await sqlOf(db).rows(ONE, []);
    expect(await preparedStatements(db)).toEqual([]);
  });

  it("runs the send path's statements on the client's own pool, each prepared once under its name", async () => {
    const db = oneConnectionClient(database.url);
    for (let i = 0; i < 3; i++) expect(await sqlOf(db).rows(ONE, [])).toEqual([{ n: 1 }]);
    expect((await preparedStatements(db)).filter((s) => s.includes('AS n'))).toEqual([ONE.text]);
  });
});

describe('statements per send', () => {
  let counter: PgQueryCounter;
  let resend: IdempotentFake;
  let harness: Harness;

  beforeAll(async () => {
    [counter, resend] = await Promise.all([startPgQueryCounter(database.url), startFakeResend()]);
    harness = await startHarness(
      testConfig(counter.url, {
        EMAIL_PROVIDERS: 'resend',
        RESEND_API_KEY: FAKE_RESEND_KEY,
        RESEND_BASE_URL: resend.url,
        EMAIL_FROM_DOMAIN: 'acme.test',
      }),
      { overrides: { sharedGaugesIntervalMs: 3_600_000 } },
    );
  });
  afterAll(async () => {
    await harness.close();
    await Promise.all([counter.close(), resend.close()]);
  });

  const codeEmail = (i: number): NewMessage => ({
    source: 'api',
    recipient: `user-${i}@example.com`,
    payload: { channel: 'email', subject: '482913 is your code', html: '<p>482913</p>', text: '482913' },
    secrets: ['482913'],
    codeBearing: true,
    maxAgeSeconds: 600,
  });

  // The outbound publisher reads the endpoint list after a change commits, on its own time (cached 5 s):
  // wait for the connection to go quiet so that read is not counted as a send's.
  const quiet = async () => {
    for (let last = -1; last !== counter.executed();) {
      last = counter.executed();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  // It was ten: the message and its content read apart, and the `sent` record a transaction of five; then five
  // (read, claim, queued event and suppression check apart).
  it('sends a message in two statements: the claim (read, claim, queued event, suppression check) and sent', async () => {
    const counts: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { messageId } = await harness.container.messages.accept(codeEmail(i));
      await quiet();
      const before = counter.executed();
      expect(await harness.container.delivery.processSend({ messageId }, new Date())).toEqual({ kind: 'finished', status: 'sent' });
      counts.push(counter.executed() - before);
    }
    expect(counts).toEqual([2, 2, 2, 2, 2]);
  });

  // Concurrent sends in one process share their claim and `sent` statements (send-batcher.ts).
  // Two each before; 11 or so with them (the provider's answers come back apart, so the `sent` records less).
  it('sends 20 concurrent messages in fewer statements than two each', async () => {
    const sends = 20;
    const accepted = await Promise.all(Array.from({ length: sends }, (_, i) => harness.container.messages.accept(codeEmail(100 + i))));
    await quiet();
    const before = counter.executed();
    const results = await Promise.all(accepted.map(({ messageId }) => harness.container.delivery.processSend({ messageId }, new Date())));
    expect(results).toEqual(accepted.map(() => ({ kind: 'finished', status: 'sent' })));
    const statements = counter.executed() - before;
    expect(statements).toBeGreaterThanOrEqual(2);
    expect(statements).toBeLessThan(2 * sends);
  });
});
