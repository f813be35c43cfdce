import type { RedisClient } from '../lib/redis';

/** Failed logins allowed from one address per window, before every login from it is refused until the window ends. */
export const LOGIN_MAX_FAILURES = 10;
export const LOGIN_WINDOW_SECONDS = 15 * 60;

// KEYS[1] the address's counter. ARGV: window seconds. The window starts at the first failure.
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
`;

export type LoginLimiter = ReturnType<typeof createLoginLimiter>;

/**
 * Counts failed dashboard logins per client address in Redis, so every API instance enforces one limit.
 * ADMIN_TOKEN is long enough that guessing it is hopeless anyway; this keeps a guesser from trying at line
 * rate and makes the attempt visible in the logs.
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
    /** Seconds until this address may try again, or 0 when it may now. */
    async retryAfterSeconds(address: string): Promise<number> {
      const [[, count], [, ttl]] = (await redis.multi().get(key(address)).ttl(key(address)).exec()) as [[null, string | null], [null, number]];
      if (Number(count ?? 0) < maxFailures) return 0;
      return ttl > 0 ? ttl : windowSeconds;
    },
    async recordFailure(address: string): Promise<number> {
      return Number(await redis.eval(RECORD_FAILURE, 1, key(address), windowSeconds));
    },
    async clear(address: string): Promise<void> {
      await redis.del(key(address));
    },
  };
}
