import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../src/db/migrate';
import { dropDatabase, PG_BASE, queryOnce } from './helpers/db';
import { PrivatePgBouncer } from './helpers/pgbouncer';

const names = readdirSync(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

/** Advisory locks anyone holds on the server: a leaked migration lock would show here. */
const advisoryLocks = (url: string) =>
  queryOnce(
    url,
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );

// Databases created as a hosted provider creates them: before the app, directly; the pooler serves only them.
const stamp = Date.now();
const concurrent = `auth_relay_bouncer_${stamp}`;
const restarted = `auth_relay_bouncer_${stamp}_restart`;
const pgbouncer = new PrivatePgBouncer([concurrent, restarted]);
let brokenDir: string;

beforeAll(async () => {
  for (const db of [concurrent, restarted]) await queryOnce(`${PG_BASE}/postgres`, `CREATE DATABASE "${db}"`);
  brokenDir = mkdtempSync(path.join(tmpdir(), 'migrations-'));
  cpSync(DEFAULT_MIGRATIONS_DIR, brokenDir, { recursive: true });
  mkdirSync(path.join(brokenDir, '99999999999999_broken'));
  writeFileSync(path.join(brokenDir, '99999999999999_broken', 'migration.sql'), 'CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n');
  await pgbouncer.start();
});

afterAll(async () => {
  await pgbouncer.stop();
  rmSync(brokenDir, { recursive: true, force: true });
  await Promise.all([dropDatabase(concurrent), dropDatabase(restarted)]);
});

describe('migrations through PgBouncer in transaction mode', () => {
  it('three starts at once: one applies everything, the others wait for it, no lock is left behind', async () => {
    const url = pgbouncer.url(concurrent);
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.map((r) => r.applied.length).sort((a, b) => a - b)).toEqual([0, 0, names.length]);
    const rows = await queryOnce<{ finished_at: Date | null }>(`${PG_BASE}/${concurrent}`, 'SELECT finished_at FROM _prisma_migrations');
    expect(rows).toHaveLength(names.length);
    expect(rows.every((r) => r.finished_at instanceof Date)).toBe(true);
    expect(await advisoryLocks(`${PG_BASE}/${concurrent}`)).toEqual([]);
  });

  it('a start whose migration fails leaves nothing behind, so the next start (through the pooler or direct) applies cleanly', async () => {
    const url = pgbouncer.url(restarted);
    await expect(migrate(url, { migrationsDir: brokenDir })).rejects.toThrow(
      /migration 99999999999999_broken failed, nothing was applied: division by zero/,
    );
    const tables = await queryOnce(`${PG_BASE}/${restarted}`, `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'`);
    expect(tables).toEqual([]);
    expect(await advisoryLocks(`${PG_BASE}/${restarted}`)).toEqual([]);

    expect(await migrate(url)).toEqual({ applied: names.sort((a, b) => a.localeCompare(b)) });
    expect(await migrate(`${PG_BASE}/${restarted}`)).toEqual({ applied: [] });
    expect(await advisoryLocks(`${PG_BASE}/${restarted}`)).toEqual([]);
  });
});
