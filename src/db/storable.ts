import { DatabaseError } from 'pg';
import { MAX_JSON_DEPTH } from '../lib/json';

/**
 * What Postgres refuses to store, found before a write instead of failing it: a value Postgres refuses fails
 * the whole statement, and with it every row written in that statement. `unstorable` names the first such
 * thing at intake (answered 422); `toStorable` replaces it, for what must be stored as it came (a provider's
 * event). `isDataError` tells a write refused for its data (that row's fault) from the database being away.
 */

/** A btree key holds at most 2,704 bytes: this many characters of up to 4 UTF-8 bytes each stay under it. */
export const MAX_KEY_CHARS = 500;

/** U+0000 (text and jsonb cannot hold it) or a UTF-16 surrogate without its pair (not Unicode: jsonb refuses it). */
const UNSTORABLE_CHAR = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_CHARS = new RegExp(UNSTORABLE_CHAR.source, 'g');

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function charProblem(s: string): string | null {
  const found = UNSTORABLE_CHAR.exec(s)?.[0];
  if (found === undefined) return null;
  return found === '\0' ? 'holds a NUL character (U+0000)' : 'holds a lone UTF-16 surrogate (not a Unicode character)';
}

/**
 * The first thing in `value` Postgres would refuse, as "`path` reason", or null. Only strings inside arrays and
 * plain objects are looked at (keys included); Dates and the like pass as they are.
 */
export function unstorable(value: unknown, path = '', depth = 0): string | null {
  const at = (reason: string) => (path ? `${path}: ${reason}` : reason);
  if (typeof value === 'string') {
    const problem = charProblem(value);
    return problem ? at(problem) : null;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? null : at('is not a finite number');
  if (!Array.isArray(value) && !isPlainObject(value)) return null;
  // Without the path: it would be 64 keys long.
  if (depth >= MAX_JSON_DEPTH) return `a value is nested deeper than ${MAX_JSON_DEPTH} levels`;
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = charProblem(key);
    const inner = path ? `${path}.${key}` : key;
    if (keyProblem) return `${inner}: the key ${keyProblem}`;
    const problem = unstorable(item, inner, depth + 1);
    if (problem) return problem;
  }
  return null;
}

/**
 * The value with what Postgres refuses replaced: U+0000 and lone surrogates by U+FFFD, anything nested past
 * MAX_JSON_DEPTH by a note saying so.
 */
export function toStorable<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return value.replace(UNSTORABLE_CHARS, '\uFFFD') as T;
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  if (depth >= MAX_JSON_DEPTH) return `[nested deeper than ${MAX_JSON_DEPTH} levels]` as T;
  if (Array.isArray(value)) return value.map((v) => toStorable(v, depth + 1)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [toStorable(k), toStorable(v, depth + 1)])) as T;
}

/** Postgres takes years 4713 BC to 294276 AD, JavaScript reaches further: ISO 8601's four-digit years fit both. */
export const isStorableDate = (at: Date): boolean => {
  const year = at.getUTCFullYear();
  return !Number.isNaN(at.getTime()) && year >= 1 && year <= 9999;
};

interface DriverCause {
  originalCode?: unknown;
  originalMessage?: unknown;
}

/**
 * What Postgres said about a failed query: from the driver adapter's error (`meta.driverAdapterError.cause`)
 * for a Prisma query, from pg's own error for a statement run on the pool directly (`sqlOf(db)`, src/db/sql.ts).
 */
function causeOf(err: unknown): DriverCause | undefined {
  if (err instanceof DatabaseError) return { originalCode: err.code, originalMessage: err.message };
  return (err as { meta?: { driverAdapterError?: { cause?: DriverCause } } } | null)?.meta?.driverAdapterError?.cause;
}

function sqlState(err: unknown): string | undefined {
  const code = causeOf(err)?.originalCode;
  return typeof code === 'string' ? code : undefined;
}

/** Postgres' own words and SQLSTATE, for the sender whose value it refused (its own value, no one else's). */
export function databaseMessage(err: unknown): string {
  const message = causeOf(err)?.originalMessage;
  return `${typeof message === 'string' ? message : 'refused'} (SQLSTATE ${sqlState(err) ?? 'unknown'})`;
}

/**
 * A write Postgres refused for what it was given: class 22 (data exception: invalid text, out-of-range number
 * or date) and 54 (program limit exceeded: an index key too long, a value nested too deep). Retrying it can only
 * fail again; any other failure (connection, timeout, lock) may pass on retry and is the database's, not the data's.
 */
export function isDataError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith('22') || state.startsWith('54'));
}
