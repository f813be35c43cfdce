import type { RedisClient } from './redis';

/**
 * Attempts limited per fixed window (started by the first attempt), counted in Redis so every instance shares
 * them. An attempt takes a slot before it is evaluated, in one script that checks and counts: parallel
 * attempts cannot all pass a check made before any of them was counted.
 */

// KEYS[1] the counter. ARGV: limit, window ms. Returns the ms until the window ends when no slot is left, else 0.
const TAKE_SLOT = `
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = 1000 end
  return ttl
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

const RETURN_SLOT = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
return 1
`;

type SlotRedis = Pick<RedisClient, 'eval'>;

/** Takes one of `limit` slots; resolves to 0 when taken, else to the milliseconds until one frees up. */
export async function takeSlot(redis: SlotRedis, key: string, limit: number, windowMs: number): Promise<number> {
  return Number(await redis.eval(TAKE_SLOT, 1, key, limit, windowMs));
}

/** Gives back the slot of an attempt that turned out not to count (a right code, a refused form). */
export async function returnSlot(redis: SlotRedis, key: string): Promise<void> {
  await redis.eval(RETURN_SLOT, 1, key);
}
