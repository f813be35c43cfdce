import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { migrate } from '../src/db/migrate';
import { dropDatabase, PG_BASE, queryOnce } from './helpers/db';

const MIGRATIONS = path.resolve(__dirname, '../prisma/migrations');
const names = readdirSync(MIGRATIONS, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe('migrate', () => {
  const name = `auth_relay_migrate_${Date.now()}`;
  const url = `${PG_BASE}/${name}`;
  afterAll(() => dropDatabase(name));

  it('creates the database and records each migration as prisma migrate deploy does', async () => {
    expect(await migrate(url)).toEqual({ applied: names });
    const rows = await queryOnce<Record<string, unknown>>(url, 'SELECT * FROM _prisma_migrations ORDER BY started_at');
    expect(rows).toHaveLength(names.length);
    rows.forEach((row, i) => {
      const sql = readFileSync(path.join(MIGRATIONS, names[i]!, 'migration.sql'));
      expect(row).toMatchObject({
        migration_name: names[i],
        checksum: createHash('sha256').update(sql).digest('hex'),
        logs: null,
        rolled_back_at: null,
        applied_steps_count: 1,
      });
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
    });
    const tables = await queryOnce<{ table_name: string }>(
      url,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['messages', 'message_events', 'message_contents', 'suppressions']),
    );
  });

  it('creates the partial indexes schema.prisma declares (rows outside them cost no index entry)', async () => {
    const schema = readFileSync(path.resolve(__dirname, '../prisma/schema.prisma'), 'utf8');
    // A predicate naming an enum type quotes it ('email'::\"Channel\"), escaped inside the schema's string.
    const declared = [...schema.matchAll(/@@index\(.*where: raw\("((?:[^"\\]|\\.)+)"\)\)/g)].map((m) => m[1]!.replace(/\\"/g, '"')).sort();
    const created = await queryOnce<{ predicate: string }>(
      url,
      `SELECT pg_get_expr(i.indpred, i.indrelid) AS predicate FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = 'public' AND i.indpred IS NOT NULL`,
    );
    expect(declared).toHaveLength(7);
    expect(created.map((r) => r.predicate.replace(/^\((.*)\)$/, '$1')).sort()).toEqual(declared);
  });

  it('does nothing the second time', async () => {
    expect(await migrate(url)).toEqual({ applied: [] });
    expect(await queryOnce(url, 'SELECT 1 FROM _prisma_migrations')).toHaveLength(names.length);
  });

  it('is safe from two processes at once', async () => {
    const concurrentName = `${name}_concurrent`;
    const concurrentUrl = `${PG_BASE}/${concurrentName}`;
    try {
      const results = await Promise.all([migrate(concurrentUrl), migrate(concurrentUrl), migrate(concurrentUrl)]);
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, names.length]);
      expect(await queryOnce(concurrentUrl, 'SELECT 1 FROM _prisma_migrations')).toHaveLength(names.length);
    } finally {
      await dropDatabase(concurrentName);
    }
  });

  it('refuses to run over a failed migration, like prisma (P3009)', async () => {
    await queryOnce(
      url,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('00000000-0000-4000-8000-000000000000', 'x', 'zz_failed')`,
    );
    try {
      await expect(migrate(url)).rejects.toThrow(/P3009: migration zz_failed failed earlier/);
    } finally {
      await queryOnce(url, `DELETE FROM _prisma_migrations WHERE migration_name = 'zz_failed'`);
    }
  });
});
