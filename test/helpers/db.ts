import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createPrisma, type Db } from '../../src/db/prisma';
import { migrate } from '../../src/db/migrate';

export const PG_BASE = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432';

export interface TestDatabase {
  url: string;
  name: string;
  db: Db;
  drop(): Promise<void>;
}

/** A fresh, migrated database per test file, so files can run in parallel against one server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `auth_relay_test_${randomBytes(5).toString('hex')}`;
  const url = `${PG_BASE}/${name}`;
  await migrate(url);
  const db = createPrisma(url, 5);
  return {
    url,
    name,
    db,
    async drop() {
      await db.$disconnect();
      await dropDatabase(name);
    },
  };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** One query on its own connection. */
export async function queryOnce<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}
