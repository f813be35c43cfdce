import type { RedisClient } from '../lib/redis';
import { takeSlot } from '../lib/redis-slots';

/** Failed logins allowed from one address per window, before every login from it is refused until the window ends. */
export const LOGIN_MAX_FAILURES = 10;
export const LOGIN_WINDOW_SECONDS = 15 * 60;

export type LoginLimiter = ReturnType<typeof createLoginLimiter>;

/**
 * Counts dashboard logins per client address in Redis, so every API instance enforces one limit. Each login
 * takes a slot before its token is compared, and a right token clears them: parallel wrong logins cannot all
 * be compared before the first is counted. ADMIN_TOKEN is long enough that guessing it is hopeless anyway;
 * this keeps a guesser from trying at line rate and makes the attempt visible in the logs.
 */
export function createLoginLimiter({
  redis,
  prefix,
  maxFailures = LOGIN_MAX_FAILURES,
  windowSeconds = LOGIN_WINDOW_SECONDS,
}: {
  redis: RedisClient;
  prefix: string;
  maxFailures?: number;
  windowSeconds?: number;
}) {
  const key = (address: string): string => `${prefix}:dashboard:login-failures:${address}`;
  return {
    /** Takes an attempt for this address: 0 when it may compare a token now, else the seconds until it may. */
    async take(address: string): Promise<number> {
      return Math.ceil((await takeSlot(redis, key(address), maxFailures, windowSeconds * 1000)) / 1000);
    },
    /** The token was right: the address's earlier failures no longer count. */
    async clear(address: string): Promise<void> {
      await redis.del(key(address));
    },
  };
}
