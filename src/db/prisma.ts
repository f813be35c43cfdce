import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { Prisma, PrismaClient } from '../generated/prisma/client';
import { registerSql } from './sql';

export type Db = PrismaClient;
export { Prisma };

/**
 * Runs `read` on one snapshot. Prisma reads each relation of an `include` in a statement of its own, on whichever
 * pool connection is free: apart, a write committed between them shows by half (a status beside the events
 * from before it). Interactive, because Prisma runs a batch `$transaction` of one query in no transaction.
 */
export const readSnapshot = <T>(db: Db, read: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> =>
  db.$transaction(read, { isolationLevel: 'RepeatableRead' });

/**
 * How many distinct statement texts a client names. pg keeps a named statement for the life of the
 * connection, so the names are bounded; our queries have far fewer shapes than this, and any past the bound
 * run unnamed. (Prisma's own engine kept 100 per connection.)
 */
export const NAMED_STATEMENTS = 200;

/**
 * A named statement is parsed and planned once per connection instead of on every execution, which is most
 * of what Postgres spends on the receiver's group INSERT. The same text always gets the same name, so pg
 * reuses it on every connection of the pool.
 */
function statementNames(): (query: { sql: string }) => string {
  const names = new Map<string, string>();
  return ({ sql }) => {
    let name = names.get(sql);
    if (name === undefined && names.size < NAMED_STATEMENTS) names.set(sql, (name = `relay_${names.size}`));
    // '' is the protocol's unnamed statement: parsed and planned for this execution only.
    return name ?? '';
  };
}

/**
 * How long one query may go unanswered before it fails (and its connection is dropped). In a network
 * partition nothing is closed and nothing answers: without this a request waits for the whole partition;
 * with it the receiver answers 503 within seconds, and Svix, Supabase and apps retry.
 */
export const QUERY_TIMEOUT_MS = 3_000;
/** Postgres itself ends a statement sooner, so a merely slow one fails cleanly and its connection stays usable. */
export const STATEMENT_TIMEOUT_MS = 2_500;
/** A connection that is not ready in this time (server unreachable, or every connection busy) fails the query. */
export const CONNECT_TIMEOUT_MS = 2_000;

/**
 * `?pgbouncer=true` is Prisma's flag for a pooler in transaction mode (PgBouncer before 1.21, Supavisor's
 * transaction port), which hands a session's named statements to other clients: with it, nothing is named.
 */
export function createPrisma(databaseUrl: string, poolSize = 10): Db {
  const behindPooler = new URL(databaseUrl).searchParams.get('pgbouncer') === 'true';
  // Our pool, given to the adapter, so the hot path's own statements (db/sql.ts) share its connections.
  const pool = new Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    // A peer that vanished is noticed by the kernel, not only when a query times out.
    keepAlive: true,
  });
  // An idle connection that dies is dropped by the pool (the next query opens another, or reports Postgres gone);
  // the adapter listens only once Prisma connects, and an 'error' nobody listens to would end the process.
  pool.on('error', () => undefined);
  const db = new PrismaClient({
    adapter: new PrismaPg(pool, {
      // `$disconnect` ends the pool, as it did when the adapter made it.
      disposeExternalPool: true,
      ...(behindPooler ? {} : { statementNameGenerator: statementNames() }),
    }),
  });
  registerSql(db, pool, !behindPooler);
  // Connecting compiles the query compiler (no database round trip: the pool connects on the first query).
  void db.$connect().then(dropQueryCompilerSource, () => undefined);
  return db;
}

/** The module Prisma reads its query compiler's Wasm from, as base64 text. */
const QUERY_COMPILER_SOURCE = /[\\/]@prisma[\\/]client[\\/]runtime[\\/]query_compiler_[a-z]+_bg\.[a-z]+\.wasm-base64\.js$/;

/**
 * Prisma imports its query compiler as a module exporting 4.6 MB of base64 text, which it decodes and compiles
 * once; the module cache would keep that text for the life of the process, in each isolate (the receiver's and
 * the worker thread's). Emptied and dropped from the cache once compiled, it is collected; a client that
 * reconnects reads the file again.
 */
function dropQueryCompilerSource(): void {
  for (const [file, module] of Object.entries(require.cache)) {
    if (!module || !QUERY_COMPILER_SOURCE.test(file)) continue;
    // Emptied in place: Node keeps the exports object on the module too, and the importer keeps the module.
    const exports = module.exports as Record<string, unknown>;
    for (const key of Object.keys(exports)) delete exports[key];
    delete require.cache[file];
  }
}
