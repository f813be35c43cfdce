import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from '../lib/logger';

/**
 * Applies prisma/migrations the way `prisma migrate deploy` does, without the Rust schema engine:
 * same advisory lock, same `_prisma_migrations` table and rows (sha256 checksum of migration.sql, one row per
 * migration, finished_at set on success, logs kept on failure), so `prisma migrate status` agrees elsewhere.
 */

// The lock key prisma's schema engine takes, so our runner and `prisma migrate deploy` exclude each other too.
const PRISMA_ADVISORY_LOCK = 72707369;

export const DEFAULT_MIGRATIONS_DIR = path.resolve(__dirname, '../../prisma/migrations');

const MIGRATIONS_TABLE_DDL = `CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

export class MigrationError extends Error {}

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

async function findMigrationsDir(dir: string): Promise<string> {
  // Compiled code runs from dist/src/db; prisma/ stays at the project root.
  for (const candidate of [dir, path.resolve(__dirname, '../../../prisma/migrations')]) {
    if (await stat(candidate).then((s) => s.isDirectory(), () => false)) return candidate;
  }
  throw new MigrationError(`migrations folder not found at ${dir}`);
}

async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort((a, b) => a.localeCompare(b));
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(dir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
    }),
  );
}

async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new MigrationError('DATABASE_URL names no database');
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      try {
        await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
      } catch (err) {
        // Another process created it between our check and our CREATE.
        if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err;
      }
    }
  } finally {
    await admin.end();
  }
}

export interface MigrateResult {
  applied: string[];
}

export async function migrate(
  databaseUrl: string,
  log?: Pick<Logger, 'info' | 'warn'>,
  migrationsDir: string = DEFAULT_MIGRATIONS_DIR,
): Promise<MigrateResult> {
  const migrations = await listMigrations(await findMigrationsDir(migrationsDir));
  await ensureDatabase(databaseUrl);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query(`SET lock_timeout = '10s'`);
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    try {
      const schema = new URL(databaseUrl).searchParams.get('schema') ?? 'public';
      const table = await client.query(
        `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = '_prisma_migrations'`,
        [schema],
      );
      if (table.rowCount === 0) {
        const others = await client.query(
          `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`,
          [schema],
        );
        if (others.rows[0].n > 0) {
          throw new MigrationError(
            `P3005: schema "${schema}" is not empty and has no _prisma_migrations table; baseline it first`,
          );
        }
        await client.query(MIGRATIONS_TABLE_DDL);
      }

      const rows = await client.query<{
        migration_name: string;
        checksum: string;
        finished_at: Date | null;
        rolled_back_at: Date | null;
      }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at');
      const failed = rows.rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
      if (failed.length > 0) {
        throw new MigrationError(
          `P3009: migration ${failed.map((f) => f.migration_name).join(', ')} failed earlier; ` +
            'fix the database and mark it with `prisma migrate resolve` before migrating again',
        );
      }
      const done = new Map(rows.rows.filter((r) => r.rolled_back_at === null).map((r) => [r.migration_name, r]));

      for (const m of migrations) {
        const previous = done.get(m.name);
        if (previous) {
          if (previous.checksum !== m.checksum) log?.warn({ migration: m.name }, 'migration was edited after it was applied');
          continue;
        }
        const id = randomUUID();
        await client.query(
          'INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) VALUES ($1, $2, now(), $3)',
          [id, m.checksum, m.name],
        );
        try {
          // No parameters: pg uses the simple-query protocol, so the file runs as one implicit transaction.
          await client.query(m.sql);
        } catch (err) {
          await client.query('UPDATE _prisma_migrations SET logs = $2 WHERE id = $1', [id, String(err)]);
          throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
        }
        await client.query(
          'UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, finished_at = now() WHERE id = $1',
          [id],
        );
        applied.push(m.name);
        log?.info({ migration: m.name }, 'migration applied');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]);
    }
  } finally {
    await client.end();
  }
  return { applied };
}
