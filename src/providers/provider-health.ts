import type { RedisClient } from '../lib/redis';
import { viaRedis } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { createAdaptiveLimiter, type AdaptiveLimiter } from './concurrency';
import { ProviderError, type RateLimitInfo } from './types';

/**
 * Per-provider gate in front of every send, shared by all worker processes through Redis:
 *  - a circuit breaker: closed → open after N consecutive failures → after a cool-down one probe is let
 *    through (half-open) → closed on its success, open again on its failure. A provider that is down then
 *    costs a message one skipped check, not its whole retry ladder;
 *  - a pause when the provider says it is rate limited (429 + Retry-After, or `ratelimit-remaining: 0`):
 *    only that provider waits, the queue and the other providers keep going;
 *  - a rate limit (GCRA: requests spaced 1/rate apart) at the rate the provider reports in its
 *    `ratelimit-*` headers, or the configured one until it has reported, never above a configured ceiling;
 *  - a concurrency limit per process that follows the rate and the provider's latency (concurrency.ts), never
 *    above the configured ceiling, so a provider that hangs cannot hold every worker slot.
 */

export interface ProviderLimits {
  /** The most requests in flight at once from this process; within it, rate × latency (concurrency.ts). */
  concurrency?: number;
  /** Ceiling (operator's choice) over whatever the provider reports. */
  maxPerSecond?: number;
  /** Used until the provider's headers say otherwise. */
  defaultPerSecond?: number;
}

export interface ProviderHealthOptions {
  redis: RedisClient;
  prefix: string;
  /** The providers `states()` reports on. */
  providers: readonly string[];
  limits: Readonly<Record<string, ProviderLimits>>;
  failureThreshold: number;
  openMs: number;
  /** How long a half-open probe may take before another process may probe instead. */
  probeLeaseMs: number;
  /** The longest a Retry-After or a rate-limit reset may pause a provider. */
  maxPauseMs: number;
  /** A provider whose next free slot is further away than this is skipped rather than waited for. */
  maxWaitMs: number;
  log: Logger;
  now?: () => number;
}

export type SkipReason = 'circuit_open' | 'paused' | 'saturated';

export type GateResult<T> = { ok: true; value: T } | { ok: false; reason: SkipReason; retryInMs: number };

export interface ProviderState {
  provider: string;
  /** `half_open`: the cool-down is over and the next send is a probe. */
  circuit: 'closed' | 'open' | 'half_open';
  consecutive_failures: number;
  open_until: string | null;
  paused_until: string | null;
  /** Seconds left in the pause (0 when not paused), for the gauge. */
  paused_seconds: number;
  /** The rate the provider last reported, per second. */
  reported_per_second: number | null;
}

export type ProviderHealth = ReturnType<typeof createProviderHealth>;

/**
 * How long a rate learned from headers is trusted without being seen again: an account's limit rarely
 * changes, and every answer refreshes it, so a restart does not fall back to the cautious default.
 */
const LEARNED_RATE_TTL_MS = 24 * 3600_000;
/** A 429 that names no Retry-After still pauses the provider briefly. */
const DEFAULT_RATE_LIMIT_PAUSE_MS = 1_000;
const KEY_TTL_MS = 24 * 3600_000;

/** Requests per second now: the reported rate while fresh, else the default; never above the ceiling. 0 = unlimited. */
const EFFECTIVE_RATE = `
local function effectiveRate(key, now, default, ceiling)
  local f = redis.call('HMGET', key, 'rate', 'rate_until')
  local rate = default
  if f[1] and (tonumber(f[2]) or 0) > now then rate = tonumber(f[1]) end
  if ceiling > 0 and (rate <= 0 or rate > ceiling) then rate = ceiling end
  return rate
end
`;

// KEYS[1] provider hash. ARGV: now, defaultRate, ceiling (0 = none), maxWait, probeLease, keyTtl.
// Returns {verdict, waitMs}: verdict 'ok' | 'probe' | 'circuit_open' | 'paused' | 'saturated'.
const ACQUIRE = `${EFFECTIVE_RATE}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', key, 'state', 'open_until', 'probe_until', 'paused_until', 'tat')
local state = f[1] or 'closed'
local probe = false
if state == 'open' then
  local openUntil = tonumber(f[2]) or 0
  if now < openUntil then return {'circuit_open', openUntil - now} end
  probe = true
elseif state == 'half_open' then
  local probeUntil = tonumber(f[3]) or 0
  if now < probeUntil then return {'circuit_open', probeUntil - now} end
  probe = true
end
local pausedUntil = tonumber(f[4]) or 0
local rate = effectiveRate(key, now, tonumber(ARGV[2]), tonumber(ARGV[3]))
local start = math.max(now, pausedUntil)
if rate > 0 then start = math.max(start, tonumber(f[5]) or 0) end
local wait = start - now
if wait > tonumber(ARGV[4]) then
  if pausedUntil > now then return {'paused', wait} end
  return {'saturated', wait}
end
if rate > 0 then redis.call('HSET', key, 'tat', tostring(start + 1000 / rate)) end
if probe then redis.call('HSET', key, 'state', 'half_open', 'probe_until', now + wait + tonumber(ARGV[5])) end
redis.call('PEXPIRE', key, ARGV[6])
-- The rate goes back as text: a Lua number would reach us truncated to an integer.
if probe then return {'probe', wait, tostring(rate)} end
return {'ok', wait, tostring(rate)}
`;

// KEYS[1] provider hash. ARGV: now, healthy (1/0), threshold, openMs, pauseUntil (0 = none), learnedRate
// (0 = none), learnedTtl, keyTtl, defaultRate, ceiling. Returns the circuit transition, or ''.
const REPORT = `${EFFECTIVE_RATE}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local state = redis.call('HGET', key, 'state') or 'closed'
local transition = ''
if ARGV[2] == '1' then
  redis.call('HSET', key, 'failures', 0)
  if state ~= 'closed' then
    redis.call('HSET', key, 'state', 'closed')
    transition = 'closed'
  end
else
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[3])) then
    redis.call('HSET', key, 'state', 'open', 'open_until', now + tonumber(ARGV[4]))
    transition = 'opened'
  end
end
local pauseUntil = tonumber(ARGV[5])
if pauseUntil > (tonumber(redis.call('HGET', key, 'paused_until')) or 0) then
  redis.call('HSET', key, 'paused_until', pauseUntil)
end
local learned = tonumber(ARGV[6])
if learned > 0 then
  local before = effectiveRate(key, now, tonumber(ARGV[9]), tonumber(ARGV[10]))
  redis.call('HSET', key, 'rate', tostring(learned), 'rate_until', now + tonumber(ARGV[7]))
  local after = effectiveRate(key, now, tonumber(ARGV[9]), tonumber(ARGV[10]))
  -- Slots handed out at the slower, guessed rate must not hold back what the provider says it allows.
  if before > 0 and (after <= 0 or after > before) and (tonumber(redis.call('HGET', key, 'tat')) or 0) > now then
    redis.call('HSET', key, 'tat', tostring(now))
  end
end
redis.call('PEXPIRE', key, ARGV[8])
return transition
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A failure the circuit counts: the provider did not do its job (no answer, 5xx, our key or quota refused).
 * A rate limit or a per-message refusal (validation) proves it is up.
 */
function isProviderFailure(error: unknown): boolean {
  // Anything else thrown is an adapter bug or a lost connection: retried like a network error, counted like one.
  if (!(error instanceof ProviderError)) return true;
  if (error.providerWide || error.pending) return false;
  return error.class === 'transient' || error.failover;
}

export function createProviderHealth(options: ProviderHealthOptions) {
  const { redis, log } = options;
  const now = options.now ?? Date.now;
  const keyOf = (provider: string) => `${options.prefix}:provider-health:${provider}`;
  const limiters = new Map<string, AdaptiveLimiter>();
  const limiterOf = (provider: string) => {
    let limiter = limiters.get(provider);
    if (!limiter) {
      const limits = options.limits[provider] ?? {};
      // Until the first slot is granted, the rate is the one the gate starts from.
      const startRate = Math.min(limits.defaultPerSecond ?? 0, limits.maxPerSecond ?? Number.POSITIVE_INFINITY);
      limiter = createAdaptiveLimiter({ ceiling: limits.concurrency ?? Number.POSITIVE_INFINITY, ratePerSecond: startRate });
      limiters.set(provider, limiter);
    }
    return limiter;
  };

  async function report(provider: string, error: unknown, rateLimitOnSuccess?: RateLimitInfo): Promise<void> {
    const at = now();
    const providerError = error instanceof ProviderError ? error : undefined;
    const rateLimit = rateLimitOnSuccess ?? providerError?.rateLimit;
    const limits = options.limits[provider] ?? {};
    let pauseMs = 0;
    if (providerError?.providerWide) pauseMs = providerError.retryAfterMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS;
    else if (rateLimit?.remaining === 0 && rateLimit.resetMs !== undefined) pauseMs = rateLimit.resetMs;
    const pauseUntil = pauseMs > 0 ? at + Math.min(pauseMs, options.maxPauseMs) : 0;
    try {
      const transition = (await redis.eval(
        REPORT,
        1,
        keyOf(provider),
        at,
        error !== undefined && isProviderFailure(error) ? 0 : 1,
        options.failureThreshold,
        options.openMs,
        pauseUntil,
        rateLimit?.perSecond ?? 0,
        LEARNED_RATE_TTL_MS,
        KEY_TTL_MS,
        limits.defaultPerSecond ?? 0,
        limits.maxPerSecond ?? 0,
      )) as string;
      if (transition === 'opened') {
        log.warn({ provider, open_ms: options.openMs }, `circuit opened: ${provider} is skipped until a probe succeeds`);
      } else if (transition === 'closed') {
        log.info({ provider }, `circuit closed: ${provider} is back`);
      }
      if (pauseUntil > at) log.info({ provider, pause_ms: pauseUntil - at }, `${provider} rate limit reached; paused`);
    } catch (err) {
      // The message's outcome does not depend on this bookkeeping; never turn a sent message into a retry.
      log.warn({ provider, err: err instanceof Error ? err.message : String(err) }, 'could not record provider health');
    }
  }

  /**
   * Runs one send through `provider`'s gate: waits for a slot (at most `maxWaitMs`), sends, records the
   * outcome for every process to see. Says instead why the provider is skipped right now. Errors from
   * `send` are rethrown as they are.
   */
  async function call<T extends { rateLimit?: RateLimitInfo }>(provider: string, send: () => Promise<T>): Promise<GateResult<T>> {
    const limiter = limiterOf(provider);
    // Every slot taken for longer than we would wait for a rate slot: skipped as saturated, like the latter.
    if (!(await limiter.acquire(options.maxWaitMs))) return { ok: false, reason: 'saturated', retryInMs: Math.ceil(limiter.latencyMs()) };
    try {
      const limits = options.limits[provider] ?? {};
      // Redis not answering is our outage, not the provider's: it surfaces as DependencyUnavailableError.
      const [verdict, waitMs, rate] = (await viaRedis(() => redis.eval(
        ACQUIRE,
        1,
        keyOf(provider),
        now(),
        limits.defaultPerSecond ?? 0,
        limits.maxPerSecond ?? 0,
        options.maxWaitMs,
        options.probeLeaseMs,
        KEY_TTL_MS,
      ))) as [string, number, string?];
      if (verdict !== 'ok' && verdict !== 'probe') {
        return { ok: false, reason: verdict as SkipReason, retryInMs: Math.max(0, Math.ceil(waitMs)) };
      }
      limiter.observeRate(Number(rate));
      if (waitMs > 0) await sleep(waitMs);
      const started = performance.now();
      let value: T;
      try {
        value = await send();
      } catch (err) {
        await report(provider, err);
        throw err;
      }
      await report(provider, undefined, value.rateLimit);
      // The time a slot is held once its rate slot has come: what Little's law multiplies the rate by.
      limiter.observeLatency(performance.now() - started);
      return { ok: true, value };
    } finally {
      limiter.release();
    }
  }

  /** The circuit of every configured provider, for the dashboard and /metrics (any process can read it). */
  async function states(): Promise<ProviderState[]> {
    const at = now();
    return Promise.all(
      options.providers.map(async (provider): Promise<ProviderState> => {
        const h = await redis.hgetall(keyOf(provider));
        const openUntil = Number(h.open_until ?? 0);
        const pausedUntil = Number(h.paused_until ?? 0);
        const circuit =
          h.state === 'open' ? (at < openUntil ? 'open' : 'half_open') : h.state === 'half_open' ? 'half_open' : 'closed';
        return {
          provider,
          circuit,
          consecutive_failures: Number(h.failures ?? 0),
          open_until: circuit === 'closed' || !openUntil ? null : new Date(openUntil).toISOString(),
          paused_until: pausedUntil > at ? new Date(pausedUntil).toISOString() : null,
          paused_seconds: pausedUntil > at ? (pausedUntil - at) / 1000 : 0,
          reported_per_second: h.rate && Number(h.rate_until ?? 0) > at ? Number(h.rate) : null,
        };
      }),
    );
  }

  return { call, states };
}
