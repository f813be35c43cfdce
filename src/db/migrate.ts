import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import type { Config } from '../config/env';
import type { Logger } from '../lib/logger';
import { DatabaseUnreachableError } from './unreachable';

/**
 * Applies prisma/migrations the way `prisma migrate deploy` does, without the Rust schema engine:
 * same advisory lock key, same `_prisma_migrations` table and rows (sha256 checksum of migration.sql, one row
 * per migration, finished_at set on success), so `prisma migrate status` agrees elsewhere.
 *
 * Unlike the engine, each migration runs in one transaction together with its row, under a
 * transaction-scoped advisory lock. Through a pooler in transaction mode a session-level lock is taken on one
 * server connection and released (or not) on another, so it neither excludes a concurrent start nor is
 * reliably released; a transaction stays on one server connection. A migration that fails rolls back with its
 * row, so nothing is left half-applied and the next start (once the file is fixed) is not locked out (P3009).
 */

// The lock key prisma's schema engine takes, so our runner and `prisma migrate deploy` exclude each other too.
const PRISMA_ADVISORY_LOCK = 72707369;
/** How long a start waits for another process's migrations; past it, it fails and its supervisor restarts it. */
const LOCK_WAIT = '60s';
/** What one migration's own statements may wait for a table lock (prisma's 10 s). */
const STATEMENT_LOCK_WAIT = '10s';

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
    if (
      await stat(candidate).then(
        (s) => s.isDirectory(),
        () => false,
      )
    )
      return candidate;
  }
  throw new MigrationError(`migrations folder not found at ${dir}`);
}

async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(dir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
    }),
  );
}

async function connect(url: string, variable: string): Promise<Client> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    if ((err as { code?: string }).code === INVALID_CATALOG) throw err;
    throw new DatabaseUnreachableError(variable, url, err);
  }
}

const INVALID_CATALOG = '3D000'; // database does not exist

/**
 * Connects to the target database, creating it first when Postgres says it does not exist. Only then is the
 * `postgres` maintenance database used, which a pooler exposing just the app database does not serve.
 */
async function connectCreatingDatabase(databaseUrl: string, variable: string): Promise<Client> {
  try {
    return await connect(databaseUrl, variable);
  } catch (err) {
    if ((err as { code?: string }).code !== INVALID_CATALOG) throw err;
  }
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  const admin = await connect(url.toString(), variable);
  try {
    await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } catch (err) {
    // Another process created it between our connect and our CREATE.
    if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err;
  } finally {
    await admin.end();
  }
  return connect(databaseUrl, variable);
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** Under the lock: the migrations table (created on an empty schema) and its rows; refuses a failed one. */
async function readApplied(client: Client, schema: string): Promise<Map<string, AppliedRow>> {
  const table = await client.query(
    `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = '_prisma_migrations'`,
    [schema],
  );
  if (table.rowCount === 0) {
    const others = await client.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`, [schema]);
    if (others.rows[0].n > 0) {
      throw new MigrationError(`P3005: schema "${schema}" is not empty and has no _prisma_migrations table; baseline it first`);
    }
    await client.query(MIGRATIONS_TABLE_DDL);
  }
  const rows = await client.query<AppliedRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at',
  );
  // Rows our runner writes are never left unfinished; these come from prisma's engine.
  const failed = rows.rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed.length > 0) {
    throw new MigrationError(
      `P3009: migration ${failed.map((f) => f.migration_name).join(', ')} failed earlier; ` +
        'fix the database and mark it with `prisma migrate resolve` before migrating again',
    );
  }
  return new Map(rows.rows.filter((r) => r.rolled_back_at === null).map((r) => [r.migration_name, r]));
}

/** Applies every pending migration in one transaction, under the lock; returns their names. */
async function applyPending(client: Client, schema: string, migrations: MigrationFile[], log?: MigrateOptions['log']): Promise<string[]> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_WAIT}'`);
    await client.query('SELECT pg_advisory_xact_lock($1)', [PRISMA_ADVISORY_LOCK]);
    await client.query(`SET LOCAL lock_timeout = '${STATEMENT_LOCK_WAIT}'`);
    const done = await readApplied(client, schema);
    const pending: MigrationFile[] = [];
    for (const m of migrations) {
      const previous = done.get(m.name);
      if (!previous) pending.push(m);
      else if (previous.checksum !== m.checksum) log?.warn({ migration: m.name }, 'migration was edited after it was applied');
    }
    for (const m of pending) {
      const id = randomUUID();
      // clock_timestamp(), not now(): rows are read back in started_at order, and now() is one instant per transaction.
      await client.query(
        `INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) VALUES ($1, $2, clock_timestamp(), $3)`,
        [id, m.checksum, m.name],
      );
      try {
        // No parameters: pg uses the simple-query protocol, so the file's statements run inside our transaction.
        await client.query(m.sql);
      } catch (err) {
        throw new MigrationError(`migration ${m.name} failed, nothing was applied: ${(err as Error).message}`);
      }
      await client.query(`UPDATE _prisma_migrations SET applied_steps_count = 1, finished_at = clock_timestamp() WHERE id = $1`, [id]);
    }
    await client.query('COMMIT');
    return pending.map((m) => m.name);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface MigrateResult {
  applied: string[];
}

export interface MigrateOptions {
  log?: Pick<Logger, 'info' | 'warn'>;
  migrationsDir?: string;
  /** The variable `databaseUrl` came from, named in connection errors. */
  variable?: string;
}

/** Where migrations go (MIGRATE_DATABASE_URL, else DATABASE_URL), with the variable to name in errors. */
export function migrationTarget(config: Pick<Config, 'DATABASE_URL' | 'MIGRATE_DATABASE_URL'>): { url: string; variable: string } {
  return config.MIGRATE_DATABASE_URL
    ? { url: config.MIGRATE_DATABASE_URL, variable: 'MIGRATE_DATABASE_URL' }
    : { url: config.DATABASE_URL, variable: 'DATABASE_URL' };
}

export async function migrate(databaseUrl: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const { log, variable = 'DATABASE_URL' } = options;
  const migrations = await listMigrations(await findMigrationsDir(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR));
  const url = new URL(databaseUrl);
  if (!url.pathname.replace(/^\//, '')) throw new MigrationError(`${variable} names no database`);
  const schema = url.searchParams.get('schema') ?? 'public';
  const client = await connectCreatingDatabase(databaseUrl, variable);
  try {
    const applied = await applyPending(client, schema, migrations, log);
    for (const name of applied) log?.info({ migration: name }, 'migration applied');
    return { applied };
  } finally {
    await client.end();
  }
}
