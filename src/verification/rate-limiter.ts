import { RateLimitedError, viaRedis } from '../lib/errors';
import { shortHash } from '../lib/ids';
import type { RedisClient } from '../lib/redis';
import { returnSlot, takeSlot } from '../lib/redis-slots';

/**
 * Limits on issuing and checking verification codes, in Redis so every instance shares them. Issuing: one Lua
 * script checks the resend cooldown and the per-recipient and per-IP windows and, only when all pass, counts
 * the send: two instances racing for the same recipient cannot both slip under a limit.
 */
const ISSUE_SCRIPT = `
local function remaining(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return 1000 end
  return ttl
end
local function over(key, limit)
  return tonumber(redis.call('GET', key) or '0') >= tonumber(limit)
end
if tonumber(ARGV[1]) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then return {'cooldown', remaining(KEYS[1])} end
if over(KEYS[2], ARGV[2]) then return {'recipient_hour', remaining(KEYS[2])} end
if over(KEYS[3], ARGV[3]) then return {'recipient_day', remaining(KEYS[3])} end
if over(KEYS[4], ARGV[4]) then return {'ip_hour', remaining(KEYS[4])} end
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
local function count(key, windowMs)
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, windowMs) end
end
count(KEYS[2], 3600000)
count(KEYS[3], 86400000)
count(KEYS[4], 3600000)
return {'ok', 0}
`;

/** Wrong guesses on one lookup (an id, or a recipient and purpose), whatever it matches, so every lookup is burnt alike. */
const MISS_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

export interface VerificationLimits {
  cooldownSeconds: number;
  perHour: number;
  perDay: number;
  perIpHour: number;
  /** Wrong codes a client IP may submit per hour, over every recipient. */
  wrongChecksPerIpHour: number;
}

type IssueVerdict = 'ok' | 'cooldown' | 'recipient_hour' | 'recipient_day' | 'ip_hour';

const MESSAGES: Record<Exclude<IssueVerdict, 'ok'>, [string, string]> = {
  cooldown: ['resend_cooldown', 'A code was just sent to this recipient; wait before asking for another'],
  recipient_hour: ['rate_limited', 'Too many codes sent to this recipient in the last hour'],
  recipient_day: ['rate_limited', 'Too many codes sent to this recipient today'],
  ip_hour: ['rate_limited', 'Too many codes requested from this IP address in the last hour'],
};

type LimiterRedis = Pick<RedisClient, 'eval' | 'del'>;

export type VerificationRateLimiter = ReturnType<typeof createVerificationRateLimiter>;

/** `keyPrefix`: every key of the limiter starts with it (one hash slot in cluster mode: the issue script uses four). */
export function createVerificationRateLimiter({
  redis,
  keyPrefix,
  limits,
}: {
  redis: LimiterRedis;
  keyPrefix: string;
  limits: VerificationLimits;
}) {
  // Recipients and IPs go into keys hashed, never in clear.
  const key = (...parts: string[]): string => `${keyPrefix}:${parts.join(':')}`;

  return {
    /** Throws RateLimitedError (429, retry_after) unless a code may be sent now; counts it when it may. */
    async consumeIssue(recipient: string, ip: string): Promise<void> {
      const r = shortHash(recipient);
      const [verdict, remainingMs] = (await viaRedis(() =>
        redis.eval(
          ISSUE_SCRIPT,
          4,
          key('cooldown', r),
          key('hour', r),
          key('day', r),
          key('ip', shortHash(ip)),
          limits.cooldownSeconds * 1000,
          limits.perHour,
          limits.perDay,
          limits.perIpHour,
        ),
      )) as [IssueVerdict, number];
      if (verdict === 'ok') return;
      const [code, message] = MESSAGES[verdict];
      throw new RateLimitedError(message, Math.max(1, Math.ceil(remainingMs / 1000)), code);
    },

    /**
     * Throws RateLimitedError (429, retry_after) when this IP has used up its wrong codes; else takes a slot,
     * which returnCheck gives back when the code was right: parallel guesses cannot overshoot, and a user who
     * gets it right costs nothing.
     */
    async takeCheck(ip: string): Promise<void> {
      const remainingMs = await viaRedis(() => takeSlot(redis, key('check-ip', shortHash(ip)), limits.wrongChecksPerIpHour, 3_600_000));
      if (remainingMs === 0) return;
      throw new RateLimitedError('Too many wrong codes from this IP address in the last hour', Math.max(1, Math.ceil(remainingMs / 1000)));
    },

    /** Gives back the slot of a check whose code was right. */
    async returnCheck(ip: string): Promise<void> {
      await viaRedis(() => returnSlot(redis, key('check-ip', shortHash(ip))));
    },

    /** Counts a wrong guess on a lookup, whether a verification is behind it or not; returns how many so far. */
    async countMiss(lookup: string, windowMs: number): Promise<number> {
      return Number(await viaRedis(() => redis.eval(MISS_SCRIPT, 1, key('miss', shortHash(lookup)), windowMs)));
    },

    /** A new code for this lookup: guesses at the ones before it no longer count against it. */
    async clearMisses(lookup: string): Promise<void> {
      await viaRedis(() => redis.del(key('miss', shortHash(lookup))));
    },
  };
}
