import {
  decideAfterAttempt,
  decideAtChainEnd,
  type AttemptResult,
  type ChainPosition,
  type DecisionContext,
  type PassedBy,
} from '../src/delivery/send-decision';
import type { ProviderFailure } from '../src/providers/types';

/**
 * The retry/failover decision, one row per case of the README's failure tables ("What happens when a send
 * fails", "Under faults", "Provider health"). Times are ms from a fixed clock; a code lives 10 minutes.
 */
const NOW = Date.parse('2026-12-02T12:00:00Z');
const MINUTE = 60_000;

const ctx = (overrides: Partial<DecisionContext> = {}): DecisionContext => ({
  now: NOW,
  worthSendingUntil: NOW + 10 * MINUTE,
  expiresAt: NOW + 10 * MINUTE,
  chainLength: 2,
  hasFallback: false,
  maxAttempts: 3,
  attemptMs: 10_000,
  maxPauseMs: 60_000,
  jitter: 0,
  ...overrides,
});

const at = (index: number, attempts = 0, unanswered = false): ChainPosition => ({ index, attempts, unanswered });
const detail = { message: 'x', status: null };
const answered = (failure: ProviderFailure): AttemptResult => ({ kind: 'answered', failure });
const serverError = (retryAfterMs?: number) => answered({ kind: 'retry', ...detail, status: 500, unanswered: false, retryAfterMs });
const timeout = answered({ kind: 'retry', ...detail, code: 'timeout', unanswered: true });
const rateLimited = (retryAfterMs?: number) => answered({ kind: 'rate_limited', ...detail, status: 429, retryAfterMs });
const pending = answered({ kind: 'pending', ...detail, status: 409 });
const failOver = answered({ kind: 'fail_over', ...detail, status: 401 });
const failed = answered({ kind: 'failed', ...detail, status: 422 });
const skipped = (reason: 'circuit_open' | 'paused' | 'saturated', retryInMs: number): AttemptResult => ({
  kind: 'skipped',
  reason,
  retryInMs,
});

describe('after an attempt', () => {
  it.each<[string, Partial<DecisionContext>, ChainPosition, AttemptResult, ReturnType<typeof decideAfterAttempt>]>([
    // "What happens when a send fails"
    [
      '5xx, first try: the same provider after a backoff of 0.5–1 s',
      {},
      at(0),
      serverError(),
      { kind: 'retry', delayMs: 500, position: at(0, 1) },
    ],
    [
      '5xx, the backoff grows (3 s ceiling on the second try)',
      { jitter: 0.999 },
      at(0, 1),
      serverError(),
      { kind: 'retry', delayMs: 2999, position: at(0, 2) },
    ],
    ['5xx with Retry-After: never sooner than asked', {}, at(0), serverError(7_000), { kind: 'retry', delayMs: 7_000, position: at(0, 1) }],
    ['5xx, PROVIDER_ATTEMPTS spent: the next provider', {}, at(0, 2), serverError(), { kind: 'fail_over', duplicatePossible: false }],
    [
      '5xx on the last provider past PROVIDER_ATTEMPTS: retried while the code is valid',
      {},
      at(1, 5),
      serverError(),
      { kind: 'retry', delayMs: 15_000, position: at(1, 6) },
    ],
    [
      '5xx on the last provider, the retry would land after expiry: given up (then failed)',
      { worthSendingUntil: NOW + 10_000 },
      at(1, 5),
      serverError(),
      { kind: 'fail_over', duplicatePossible: false },
    ],
    [
      '5xx, a retry that would land after the code expires: the next provider now',
      { worthSendingUntil: NOW + 5_000 },
      at(0),
      serverError(7_000),
      { kind: 'fail_over', duplicatePossible: false },
    ],
    [
      '5xx on the last SMS provider with an email fallback: PROVIDER_ATTEMPTS still limits',
      { hasFallback: true },
      at(1, 2),
      serverError(),
      { kind: 'fail_over', duplicatePossible: false },
    ],
    ['429: the same provider after its Retry-After', {}, at(0), rateLimited(2_000), { kind: 'retry', delayMs: 2_000, position: at(0, 1) }],
    [
      '429 asking for longer than PROVIDER_MAX_PAUSE_SECONDS, another provider: fail over now',
      {},
      at(0),
      rateLimited(3_600_000),
      { kind: 'fail_over', duplicatePossible: false },
    ],
    [
      '429 with Retry-After: 3600 on the only provider: back within the pause cap',
      { chainLength: 1 },
      at(0),
      rateLimited(3_600_000),
      { kind: 'retry', delayMs: 60_000, position: at(0, 1) },
    ],
    [
      '429 on the only provider, the code expires within the cap: back in time for one probe',
      { chainLength: 1, worthSendingUntil: NOW + 30_000 },
      at(0),
      rateLimited(3_600_000),
      { kind: 'retry', delayMs: 19_000, position: at(0, 1) },
    ],
    [
      '409 still in progress: ask the same provider again, no attempt spent',
      {},
      at(0, 1),
      pending,
      { kind: 'retry', delayMs: 500, position: at(0, 1) },
    ],
    [
      '409 still in progress with attempts spent: still never another provider',
      {},
      at(0, 3),
      pending,
      { kind: 'retry', delayMs: 500, position: at(0, 3) },
    ],
    ['401/403/402/quota: the next provider at once', {}, at(0), failOver, { kind: 'fail_over', duplicatePossible: false }],
    ['400/422 validation: failed', {}, at(0), failed, { kind: 'fail' }],
    // "Under faults": provider hangs, 429 storm, timeout then failover, one flaky provider
    [
      'provider hangs, first timeout: the same provider, same key',
      {},
      at(0),
      timeout,
      { kind: 'retry', delayMs: 500, position: at(0, 1, true) },
    ],
    [
      'timeout, PROVIDER_ATTEMPTS spent, time left: still that provider (it may have it)',
      {},
      at(0, 2, true),
      timeout,
      { kind: 'retry', delayMs: 4_500, position: at(0, 3, true) },
    ],
    [
      'timeout then a 5xx there: that provider may still hold the first request',
      {},
      at(0, 2, true),
      serverError(),
      { kind: 'retry', delayMs: 4_500, position: at(0, 3, true) },
    ],
    [
      'timeout, too little time left to wait and try there again: fail over, duplicate possible',
      { worthSendingUntil: NOW + 20_000 },
      at(0, 1, true),
      timeout,
      { kind: 'fail_over', duplicatePossible: true },
    ],
    [
      'timeout, then its circuit is open: wait for the probe',
      {},
      at(0, 1, true),
      skipped('circuit_open', 25_000),
      { kind: 'retry', delayMs: 25_000, position: at(0, 1, true) },
    ],
    [
      'timeout, circuit open, the probe comes too late for the code: fail over, duplicate possible',
      { worthSendingUntil: NOW + 40_000 },
      at(0, 1, true),
      skipped('circuit_open', 25_000),
      { kind: 'fail_over', duplicatePossible: true },
    ],
    [
      'timeout, then a refused key there: fail over, duplicate possible',
      {},
      at(0, 1, true),
      failOver,
      { kind: 'fail_over', duplicatePossible: true },
    ],
    [
      'timeout on the last provider: retried like any transient failure',
      {},
      at(1, 4, true),
      timeout,
      { kind: 'retry', delayMs: 15_000, position: at(1, 5, true) },
    ],
    [
      'timeout on the last provider, its circuit open: passed by, waited for like any skip',
      {},
      at(1, 1, true),
      skipped('circuit_open', 5_000),
      { kind: 'pass_by', retryInMs: 5_000, down: true },
    ],
    // "Provider health": circuit, pause, rate limit
    [
      'circuit open (never tried here): the next provider',
      {},
      at(0),
      skipped('circuit_open', 25_000),
      { kind: 'pass_by', retryInMs: 25_000, down: true },
    ],
    [
      'paused (429 storm): the next provider, or wait',
      {},
      at(0),
      skipped('paused', 3_000),
      { kind: 'pass_by', retryInMs: 3_000, down: false },
    ],
    [
      'saturated (rate limit slot too far): the next provider, or wait',
      {},
      at(0),
      skipped('saturated', 6_000),
      { kind: 'pass_by', retryInMs: 6_000, down: false },
    ],
  ])('%s', (_label, overrides, position, result, expected) => {
    expect(decideAfterAttempt(ctx(overrides), position, result)).toEqual(expected);
  });
});

describe('when the chain runs out', () => {
  const passed = (retryInMs: number, allDown: boolean): PassedBy => ({ position: at(0, 1), retryInMs, allDown });
  it.each<[string, Partial<DecisionContext>, PassedBy | undefined, ReturnType<typeof decideAtChainEnd>]>([
    ['every provider failed: failed', {}, undefined, { kind: 'fail' }],
    [
      'every provider skipped: wait for the first, no attempt spent',
      {},
      passed(3_000, false),
      { kind: 'wait', delayMs: 3_000, position: at(0, 1) },
    ],
    ['re-checked at least every 30 s', {}, passed(120_000, false), { kind: 'wait', delayMs: 30_000, position: at(0, 1) }],
    ['and no sooner than 200 ms', {}, passed(0, false), { kind: 'wait', delayMs: 200, position: at(0, 1) }],
    [
      'a code comes back no later than its expiry, to be marked expired',
      { expiresAt: NOW + 10_000 },
      passed(25_000, true),
      { kind: 'wait', delayMs: 10_050, position: at(0, 1) },
    ],
    ['every SMS circuit open, an email fallback: it goes now', { hasFallback: true }, passed(25_000, true), { kind: 'fall_back' }],
    [
      'SMS providers busy or paused (not down), a fallback: waited for',
      { hasFallback: true },
      passed(3_000, false),
      { kind: 'wait', delayMs: 3_000, position: at(0, 1) },
    ],
  ])('%s', (_label, overrides, passedBy, expected) => {
    expect(decideAtChainEnd(ctx(overrides), passedBy)).toEqual(expected);
  });
});
