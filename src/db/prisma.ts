import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from '../generated/prisma/client';

/**
 * One statement run on pg's pool itself, past the ORM, for the hot path where Prisma's own work cost more than
 * the query (the receiver's group INSERT): the same pool and connections Prisma uses. `name` is the
 * statement's (prepared once per connection), dropped behind a transaction pooler.
 */
export type DirectQuery = <R>(name: string, text: string, values: readonly unknown[]) => Promise<R[]>;

export type Db = PrismaClient & { readonly direct: DirectQuery };
export { Prisma } from '../generated/prisma/client';

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
  const pool = new Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    // A peer that vanished is noticed by the kernel, not only when a query times out.
    keepAlive: true,
  });
  const client = new PrismaClient({
    adapter: new PrismaPg(pool, {
      // $disconnect ends the pool, as it did when the adapter made it.
      disposeExternalPool: true,
      ...(behindPooler ? {} : { statementNameGenerator: statementNames() }),
    }),
  });
  const direct: DirectQuery = async <R>(name: string, text: string, values: readonly unknown[]) =>
    (await pool.query({ name: behindPooler ? undefined : name, text, values: [...values] })).rows as R[];
  return Object.assign(client, { direct });
}
