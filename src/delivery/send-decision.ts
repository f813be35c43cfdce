import { unreachable } from '../providers/error-policy';
import type { SkipReason } from '../providers/provider-health';
import type { ProviderFailure } from '../providers/types';

/**
 * What a send does after each answer, as one pure function of the message's situation, the answer, the
 * provider's state and the clock: the README's failure tables ("What happens when a send fails", "Under
 * faults") are its specification and test/send-decision.test.ts its table test.
 */

/** Where a message stands in its provider chain; carried by its send job from one run to the next. */
export interface ChainPosition {
  index: number;
  /** Attempts spent on the provider at `index`. */
  attempts: number;
  /** Its last attempt at that provider got no answer: the provider may hold the message. */
  unanswered: boolean;
}

export interface DecisionContext {
  /** The clock, in ms since the epoch. */
  now: number;
  /** A code's expiry; anything else a day after it was accepted (`worthSendingUntil`). */
  worthSendingUntil: number;
  /** A code's expiry (null: no code): a waiting code comes back no later than this. */
  expiresAt: number | null;
  chainLength: number;
  /** An SMS with an email fallback: the end of its chain is not the end of the message. */
  hasFallback: boolean;
  /** PROVIDER_ATTEMPTS. */
  maxAttempts: number;
  /** PROVIDER_TIMEOUT_MS: the longest one attempt takes. */
  attemptMs: number;
  /** PROVIDER_MAX_PAUSE_SECONDS in ms: no Retry-After holds a message longer. */
  maxPauseMs: number;
  /** In [0, 1): the jitter of the next backoff. */
  jitter: number;
}

/** What the provider at the current position came to: an answer, or the gate's reason to skip it. */
export type AttemptResult = { kind: 'answered'; failure: ProviderFailure } | { kind: 'skipped'; reason: SkipReason; retryInMs: number };

export type NextAction =
  /** Come back to `position` after `delayMs` (the job is delayed; no other provider is tried meanwhile). */
  | { kind: 'retry'; delayMs: number; position: ChainPosition }
  /** Try the next provider now; `duplicatePossible` when the one left may already hold the message. */
  | { kind: 'fail_over'; duplicatePossible: boolean }
  /** The gate skipped this provider: try the next one now, and resume here if every one is skipped. */
  | { kind: 'pass_by'; retryInMs: number; down: boolean }
  | { kind: 'fail' };

/** Where the chain ran out. The first provider passed by, if any, is where the message resumes. */
export interface PassedBy {
  position: ChainPosition;
  retryInMs: number;
  /** Every provider passed by had its circuit open. */
  allDown: boolean;
}

export type ChainEnd =
  | { kind: 'wait'; delayMs: number; position: ChainPosition }
  /** Every SMS provider is down: the email fallback goes now rather than wait, maybe past the code's expiry. */
  | { kind: 'fall_back' }
  | { kind: 'fail' };

/** Bounds on how long a message waits when every provider is skipped (re-checked at least this often). */
export const MIN_SKIP_DELAY_MS = 200;
export const MAX_SKIP_DELAY_MS = 30_000;
/** Between deciding to send and the provider's answer: a job's scheduling, a slot's wait. */
const SCHEDULING_SLACK_MS = 1_000;

/** Exponential backoff with full jitter (1 s, 3 s, 9 s … capped at 30 s), never sooner than the provider asked. */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, jitter: number): number {
  const ceiling = Math.min(30_000, 1_000 * 3 ** (attempt - 1));
  const backoff = Math.round(ceiling / 2 + (jitter * ceiling) / 2);
  return Math.max(backoff, retryAfterMs ?? 0);
}

/** The last moment a send can start and still be answered while the message is worth sending. */
export const answerBy = (ctx: DecisionContext): number => ctx.worthSendingUntil - ctx.attemptMs - SCHEDULING_SLACK_MS;

const onLastResort = (ctx: DecisionContext, position: ChainPosition): boolean => position.index === ctx.chainLength - 1 && !ctx.hasFallback;

/**
 * A provider that may hold the message is waited for (its backoff, or its circuit's probe) while that wait
 * plus one more attempt there still leaves one attempt's time for the next provider; past that, the message
 * fails over and the failover says a duplicate is possible.
 */
const canWaitFor = (ctx: DecisionContext, waitMs: number): boolean => ctx.now + waitMs + 2 * ctx.attemptMs <= ctx.worthSendingUntil;

const clampSkip = (ms: number): number => Math.max(MIN_SKIP_DELAY_MS, Math.min(ms, MAX_SKIP_DELAY_MS));

function afterTransient(
  ctx: DecisionContext,
  position: ChainPosition,
  failure: Extract<ProviderFailure, { kind: 'retry' | 'rate_limited' }>,
): NextAction {
  const attempts = position.attempts + 1;
  const unanswered = position.unanswered || (failure.kind === 'retry' && failure.unanswered);
  const lastResort = onLastResort(ctx, position);
  let delayMs = retryDelayMs(attempts, failure.retryAfterMs, ctx.jitter);
  if (failure.kind === 'rate_limited') {
    // Asked to wait longer than the pause cap: another provider now, if there is one.
    if (delayMs > ctx.maxPauseMs && !lastResort) return { kind: 'fail_over', duplicatePossible: unanswered };
    // Otherwise no longer than the cap, nor past the message's last chance of an answer (the pause lets it probe then).
    delayMs = Math.max(MIN_SKIP_DELAY_MS, Math.min(delayMs, ctx.maxPauseMs, answerBy(ctx) - ctx.now));
  }
  const retry: NextAction = { kind: 'retry', delayMs, position: { index: position.index, attempts, unanswered } };
  if (unanswered && !lastResort) return canWaitFor(ctx, delayMs) ? retry : { kind: 'fail_over', duplicatePossible: true };
  // With nowhere else to go, PROVIDER_ATTEMPTS is no limit: retried for as long as the message is worth sending.
  if ((attempts < ctx.maxAttempts || lastResort) && ctx.now + delayMs < ctx.worthSendingUntil) return retry;
  // Waiting here would outlive the message, or its attempts here are spent: the next provider, now.
  return { kind: 'fail_over', duplicatePossible: false };
}

/** The next action after `result` at `position`. */
export function decideAfterAttempt(ctx: DecisionContext, position: ChainPosition, result: AttemptResult): NextAction {
  if (result.kind === 'skipped') {
    if (position.unanswered && !onLastResort(ctx, position)) {
      // The skipped provider may hold the message: wait for it (its probe) rather than send a second copy.
      const delayMs = clampSkip(result.retryInMs);
      return canWaitFor(ctx, delayMs) ? { kind: 'retry', delayMs, position } : { kind: 'fail_over', duplicatePossible: true };
    }
    return { kind: 'pass_by', retryInMs: result.retryInMs, down: result.reason === 'circuit_open' };
  }
  const { failure } = result;
  switch (failure.kind) {
    case 'pending':
      // The provider already holds this message: ask it again (no attempt spent), never another provider.
      return { kind: 'retry', delayMs: retryDelayMs(1, failure.retryAfterMs, ctx.jitter), position };
    case 'retry':
    case 'rate_limited':
      return afterTransient(ctx, position, failure);
    case 'fail_over':
      return { kind: 'fail_over', duplicatePossible: position.unanswered };
    case 'failed':
      return { kind: 'fail' };
    default:
      return unreachable(failure);
  }
}

/** What to do when no provider of the chain is left to try in this run. */
export function decideAtChainEnd(ctx: DecisionContext, passedBy: PassedBy | undefined): ChainEnd {
  if (!passedBy) return { kind: 'fail' };
  if (passedBy.allDown && ctx.hasFallback) return { kind: 'fall_back' };
  // Come back when the first provider passed by may take it, without spending an attempt; a code no later
  // than its expiry, to be marked expired then.
  const untilExpiry = ctx.expiresAt !== null ? ctx.expiresAt - ctx.now + 50 : Number.POSITIVE_INFINITY;
  return {
    kind: 'wait',
    delayMs: Math.max(MIN_SKIP_DELAY_MS, Math.min(passedBy.retryInMs, MAX_SKIP_DELAY_MS, untilExpiry)),
    position: passedBy.position,
  };
}
