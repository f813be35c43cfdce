import type { RedisClient } from '../lib/redis';
import { viaRedis } from '../lib/errors';
import { runScript } from '../lib/redis-script';
import type { Logger } from '../lib/logger';
import { createAdaptiveLimiter, type AdaptiveLimiter } from './concurrency';
import { unreachable } from './error-policy';
import { tracedSend } from './provider-span';
import { ACQUIRE, REPORT } from './provider-health-scripts';
import { createSlotLeases, LEASE_BURST_MS, type SlotLeases, type SlotState } from './slot-lease';
import type { ProviderOutcome } from './types';

/**
 * Per-provider gate in front of every send, shared by all worker processes through Redis:
 *  - a circuit breaker: closed → open after N consecutive failures → after a cool-down one probe is let
 *    through (half-open) → closed on its success, open again on its failure. A provider that is down then
 *    costs a message one skipped check, not its whole retry ladder;
 *  - a pause when the provider says it is rate limited (429 + Retry-After, or `ratelimit-remaining: 0`):
 *    only that provider waits, the queue and the other providers keep going;
 *  - a rate limit (GCRA: requests spaced 1/rate apart) at the rate the provider reports in its
 *    `ratelimit-*` headers, or the configured one until it has reported, never above a configured ceiling;
 *    at a high rate a process leases a few slots at a time (slot-lease.ts);
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
 * changes, and answers that report it renew it (at most once a minute per process), so a restart does not
 * fall back to the cautious default.
 */
const LEARNED_RATE_TTL_MS = 24 * 3600_000;
/** A 429 that names no Retry-After still pauses the provider briefly. */
const DEFAULT_RATE_LIMIT_PAUSE_MS = 1_000;
const KEY_TTL_MS = 24 * 3600_000;
/** A learned rate seen again is written again (its TTL renewed) once this much of the TTL has passed. */
const LEARNED_RATE_REFRESH_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A failure the circuit counts: the provider did not do its job (no answer, 5xx, our key or quota refused).
 * A rate limit or a per-message refusal (validation) proves it is up. Anything thrown (`undefined` here) is
 * an adapter bug or a lost connection: retried like a network error, counted like one.
 */
function isProviderFailure(outcome: ProviderOutcome | undefined): boolean {
  if (!outcome) return true;
  switch (outcome.kind) {
    case 'retry':
    case 'fail_over':
      return true;
    case 'sent':
    case 'rate_limited':
    case 'pending':
    case 'failed':
      return false;
    default:
      return unreachable(outcome);
  }
}

/** What each step of the gate works with: the options, and this process's clock, keys and concurrency limiters. */
interface HealthContext {
  options: ProviderHealthOptions;
  redis: RedisClient;
  log: Logger;
  now: () => number;
  keyOf: (provider: string) => string;
  limiterOf: (provider: string) => AdaptiveLimiter;
  /** Failures this process has reported per provider, so far. */
  failuresReported: Map<string, number>;
  leases: SlotLeases;
}

/**
 * Whether recording `outcome` would change nothing in the provider's hash: a plain success (no probe, no
 * pause) on a circuit with no failures counted, at the rate already learned, from a slot that no failure of
 * this process has followed. Most sends are that, and leave Redis alone; the first success after any
 * failure, a new rate, a pause and a rate's renewal once a minute are still recorded at once. (A failure in
 * another process while this send was out is reset by that process's next success, not this one.)
 */
function changesNothing(ctx: HealthContext, provider: string, outcome: ProviderOutcome, slot: SlotState | undefined): boolean {
  if (!slot || outcome.kind !== 'sent' || slot.failures !== 0) return false;
  if ((ctx.failuresReported.get(provider) ?? 0) !== slot.failuresReported) return false;
  const { rateLimit } = outcome;
  if (rateLimit?.remaining === 0 && rateLimit.resetMs !== undefined) return false;
  if (!rateLimit?.perSecond) return true;
  return String(rateLimit.perSecond) === slot.learnedRate && slot.learnedUntil - ctx.now() > LEARNED_RATE_TTL_MS - LEARNED_RATE_REFRESH_MS;
}

async function report(ctx: HealthContext, provider: string, outcome: ProviderOutcome | undefined, pauseProbe: boolean): Promise<void> {
  const { redis, log, options } = ctx;
  const at = ctx.now();
  const rateLimit = outcome && 'rateLimit' in outcome ? outcome.rateLimit : undefined;
  const limits = options.limits[provider] ?? {};
  let pauseMs = 0;
  if (outcome?.kind === 'rate_limited') pauseMs = outcome.retryAfterMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS;
  else if (rateLimit?.remaining === 0 && rateLimit.resetMs !== undefined) pauseMs = rateLimit.resetMs;
  const pauseUntil = pauseMs > 0 ? at + Math.min(pauseMs, options.maxPauseMs) : 0;
  if (isProviderFailure(outcome)) ctx.failuresReported.set(provider, (ctx.failuresReported.get(provider) ?? 0) + 1);
  try {
    const transition = (await runScript(
      redis,
      REPORT,
      [ctx.keyOf(provider)],
      [
        at,
        isProviderFailure(outcome) ? 0 : 1,
        options.failureThreshold,
        options.openMs,
        pauseUntil,
        rateLimit?.perSecond ?? 0,
        LEARNED_RATE_TTL_MS,
        KEY_TTL_MS,
        limits.defaultPerSecond ?? 0,
        limits.maxPerSecond ?? 0,
        pauseProbe ? 1 : 0,
      ],
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
 * The gate's verdict on a send now, and with a plain slot the hash as it found it: a slot this process leased
 * (slot-lease.ts), else ACQUIRE's answer, which may lease the next few.
 */
async function takeSlot(ctx: HealthContext, provider: string, answerBy: number | undefined) {
  const { redis, options, leases } = ctx;
  const limits = options.limits[provider] ?? {};
  const failuresReported = ctx.failuresReported.get(provider) ?? 0;
  const leased = await leases.slot(provider, ctx.now, failuresReported);
  if (!('ask' in leased)) return { verdict: 'ok', ...leased };
  const asked = leased.ask;
  const now = ctx.now();
  // Redis not answering is our outage, not the provider's: it surfaces as DependencyUnavailableError.
  const answer = viaRedis(() =>
    runScript(
      redis,
      ACQUIRE,
      [ctx.keyOf(provider)],
      [
        now,
        limits.defaultPerSecond ?? 0,
        limits.maxPerSecond ?? 0,
        options.maxWaitMs,
        options.probeLeaseMs,
        KEY_TTL_MS,
        answerBy ?? 0,
        asked,
        LEASE_BURST_MS,
      ],
    ),
  );
  const [verdict, waitMs, rate, failures, learnedRate, learnedUntil, granted] = (await answer.catch((err: unknown) => {
    leases.answer(provider, asked, now);
    throw err;
  })) as [string, number, string?, string?, string?, string?, number?];
  if (verdict !== 'ok') {
    leases.answer(provider, asked, now);
    return { verdict, waitMs, rate, slot: undefined };
  }
  const slot: SlotState = {
    failures: Number(failures),
    learnedRate: learnedRate ?? '',
    learnedUntil: Number(learnedUntil),
    failuresReported,
  };
  leases.answer(provider, asked, now, { granted: Number(granted), start: now + waitMs, rate: rate!, slot });
  return { verdict, waitMs, rate, slot };
}

/**
 * Runs one send through `provider`'s gate: waits for a slot (at most `maxWaitMs`), sends, records the
 * outcome for every process to see. Says instead why the provider is skipped right now. An error thrown
 * by `send` (an adapter bug) counts as a failure and is rethrown as it is.
 */
async function call(
  ctx: HealthContext,
  provider: string,
  send: () => Promise<ProviderOutcome>,
  /** When the message needs its answer: a pause that would outlive it lets one probe through instead. */
  answerBy?: number,
): Promise<GateResult<ProviderOutcome>> {
  const { options } = ctx;
  const limiter = ctx.limiterOf(provider);
  // Every slot taken for longer than we would wait for a rate slot: skipped as saturated, like the latter.
  if (!(await limiter.acquire(options.maxWaitMs))) return { ok: false, reason: 'saturated', retryInMs: Math.ceil(limiter.latencyMs()) };
  try {
    const { verdict, waitMs, rate, slot } = await takeSlot(ctx, provider, answerBy);
    if (verdict !== 'ok' && verdict !== 'probe' && verdict !== 'pause_probe') {
      return { ok: false, reason: verdict as SkipReason, retryInMs: Math.max(0, Math.ceil(waitMs)) };
    }
    limiter.observeRate(Number(rate));
    if (waitMs > 0) await sleep(waitMs);
    const started = performance.now();
    let value: ProviderOutcome;
    try {
      value = await tracedSend(provider, send);
    } catch (err) {
      ctx.leases.drop(provider);
      await report(ctx, provider, undefined, verdict === 'pause_probe');
      throw err;
    }
    if (!changesNothing(ctx, provider, value, slot)) {
      ctx.leases.drop(provider);
      await report(ctx, provider, value, verdict === 'pause_probe');
    }
    // The time a slot is held once its rate slot has come (what Little's law multiplies the rate by); only
    // answered calls count, so a provider that hangs never earns more slots.
    if (!(value.kind === 'retry' && value.unanswered)) limiter.observeLatency(performance.now() - started);
    return { ok: true, value };
  } finally {
    limiter.release();
  }
}

/** The circuit of every configured provider, for the dashboard and /metrics (any process can read it). */
async function states(ctx: HealthContext): Promise<ProviderState[]> {
  const { redis, options } = ctx;
  const at = ctx.now();
  return Promise.all(
    options.providers.map(async (provider): Promise<ProviderState> => {
      const h = await redis.hgetall(ctx.keyOf(provider));
      const openUntil = Number(h.open_until ?? 0);
      const pausedUntil = Number(h.paused_until ?? 0);
      const circuit = h.state === 'open' ? (at < openUntil ? 'open' : 'half_open') : h.state === 'half_open' ? 'half_open' : 'closed';
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

export function createProviderHealth(options: ProviderHealthOptions) {
  const limiters = new Map<string, AdaptiveLimiter>();
  const ctx: HealthContext = {
    options,
    redis: options.redis,
    log: options.log,
    now: options.now ?? Date.now,
    keyOf: (provider) => `${options.prefix}:provider-health:${provider}`,
    failuresReported: new Map(),
    leases: createSlotLeases(),
    limiterOf: (provider) => {
      let limiter = limiters.get(provider);
      if (!limiter) {
        const limits = options.limits[provider] ?? {};
        // Until the first slot is granted, the rate is the one the gate starts from.
        const startRate = Math.min(limits.defaultPerSecond ?? 0, limits.maxPerSecond ?? Number.POSITIVE_INFINITY);
        limiter = createAdaptiveLimiter({ ceiling: limits.concurrency ?? Number.POSITIVE_INFINITY, ratePerSecond: startRate });
        limiters.set(provider, limiter);
      }
      return limiter;
    },
  };
  return {
    call: (provider: string, send: () => Promise<ProviderOutcome>, answerBy?: number) => call(ctx, provider, send, answerBy),
    states: () => states(ctx),
  };
}
