import { createPrisma, NAMED_STATEMENTS, type Db } from '../src/db/prisma';
import { createTestDatabase, type TestDatabase } from './helpers/db';

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
    expect(await preparedStatements(db)).toEqual([]);
  });
});
