import type { Pool } from 'pg';
import type { Db } from './prisma';

/**
 * The hot path's statements (the intake INSERT, a send's claim and its record) straight on the `pg` pool
 * Prisma's adapter is given (src/db/prisma.ts). Through Prisma even a raw statement goes through its client
 * runtime, which cost the receiver and the send worker more CPU than Postgres spent on the statement; here a statement is one `pool.query` whose result pg parses itself
 * (timestamptz → Date, jsonb → value, int → number).
 */

/** A statement with its fixed name: pg parses and plans it once per connection, then only binds and runs it. */
export interface NamedStatement {
  name: string;
  text: string;
}

export interface Sql {
  /** The rows `statement` returns with `values` as its $1, $2 … */
  rows<R>(statement: NamedStatement, values: unknown[]): Promise<R[]>;
}

const pools = new WeakMap<Db, Sql>();

/**
 * `named: false` behind a transaction-mode pooler, which hands a session's named statements to other clients
 * (as for Prisma's own statements, see `createPrisma`).
 */
export function registerSql(db: Db, pool: Pool, named: boolean): void {
  pools.set(db, {
    async rows<R>(statement: NamedStatement, values: unknown[]): Promise<R[]> {
      const result = await pool.query(named ? { name: statement.name, text: statement.text, values } : { text: statement.text, values });
      return result.rows as R[];
    },
  });
}

/** The statement runner on `db`'s own pool: the same connections, limits and timeouts as its Prisma queries. */
export function sqlOf(db: Db): Sql {
  const sql = pools.get(db);
  if (!sql) throw new Error('this Prisma client was not made by createPrisma: it has no pg pool to run statements on');
  return sql;
}
