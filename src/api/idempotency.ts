import { createHash } from 'node:crypto';
import type { RedisClient } from '../lib/redis';
import { ConflictError, ValidationError, viaRedis } from '../lib/errors';

/**
 * `Idempotency-Key` for the /v1 API, kept in Redis (shared by every instance) for 24 h: the first request with
 * a key claims it; a repeat with the same body gets the first answer again and causes nothing; a repeat with
 * another body is a 409. A claim lives only a minute until answered, so a crash mid-request frees the key.
 */

export interface StoredAnswer {
  status: number;
  body: unknown;
}

interface Entry {
  fingerprint: string;
  answer?: StoredAnswer;
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

export function createIdempotencyStore({
  redis,
  prefix,
  ttlSeconds = 24 * 3600,
  claimSeconds = 60,
}: {
  redis: Pick<RedisClient, 'set' | 'get' | 'del'>;
  prefix: string;
  ttlSeconds?: number;
  claimSeconds?: number;
}) {
  /**
   * Runs `handle` once per (scope, key, body). `scope` separates API keys; `body` is what the request asks for.
   * Returns the answer to give, and whether it is a replay.
   */
  async function once(
    scope: string,
    key: string,
    body: unknown,
    handle: () => Promise<StoredAnswer>,
  ): Promise<StoredAnswer & { replayed: boolean }> {
    if (!VALID_KEY.test(key)) throw new ValidationError('Idempotency-Key must be 1–255 printable ASCII characters');
    const redisKey = `${prefix}:idempotency:${scope}:${sha256(key)}`;
    const fingerprint = sha256(JSON.stringify(body));

    const claimed = await viaRedis(() => redis.set(redisKey, JSON.stringify({ fingerprint } satisfies Entry), 'EX', claimSeconds, 'NX'));
    if (claimed !== 'OK') {
      const raw = await viaRedis(() => redis.get(redisKey));
      // Expired between the two commands: rare enough to ask the client to retry.
      if (!raw) throw new ConflictError('This Idempotency-Key is being released; retry', 'idempotency_key_in_use');
      const entry = JSON.parse(raw) as Entry;
      if (entry.fingerprint !== fingerprint) {
        throw new ConflictError('This Idempotency-Key was already used with a different request body', 'idempotency_key_reused');
      }
      if (!entry.answer) {
        throw new ConflictError('A request with this Idempotency-Key is still in progress; retry shortly', 'idempotency_key_in_use');
      }
      return { ...entry.answer, replayed: true };
    }

    let answer: StoredAnswer;
    try {
      answer = await handle();
    } catch (err) {
      // Nothing was done, or it failed before answering: let the client retry with the same key.
      await redis.del(redisKey).catch(() => undefined);
      throw err;
    }
    await viaRedis(() => redis.set(redisKey, JSON.stringify({ fingerprint, answer } satisfies Entry), 'EX', ttlSeconds));
    return { ...answer, replayed: false };
  }

  return { once };
}
