/**
 * How many sends to one provider a process keeps in flight. A fixed number is wrong both ways: 10 at 50 ms
 * caps a provider that allows 100,000/s at 200/s, and too many against a provider that allows 2/s only pile
 * up waiting for rate slots. By Little's law the provider's rate needs `rate × latency` requests in flight; the
 * limit is that (with headroom for latency's jitter), bounded by the operator's ceiling.
 */

/** Latency assumed until a provider has answered: a typical HTTPS API call. */
export const ASSUMED_LATENCY_MS = 250;
/** Room over the mean, for the answers slower than it and for the time a slot spends on our own bookkeeping. */
const HEADROOM = 1.5;
/** Weight of each new answer in the latency estimate: about the last ten answers count. */
const LATENCY_WEIGHT = 0.1;

export interface ConcurrencyInputs {
  /** Requests per second the provider allows now; 0 when nothing limits it. */
  ratePerSecond: number;
  /** How long the provider takes to answer. */
  latencyMs: number;
  /** The most in flight whatever the rate (`*_CONCURRENCY`). */
  ceiling: number;
}

/** The in-flight limit for a rate and a latency: at least 1, at most the ceiling. */
export function concurrencyFor({ ratePerSecond, latencyMs, ceiling }: ConcurrencyInputs): number {
  if (ratePerSecond <= 0) return ceiling;
  const needed = Math.ceil(((ratePerSecond * latencyMs) / 1000) * HEADROOM) + 1;
  return Math.max(1, Math.min(ceiling, needed));
}

/** A moving average of answer times, starting from `ASSUMED_LATENCY_MS`. */
export function nextLatencyEstimate(estimateMs: number | undefined, observedMs: number): number {
  return estimateMs === undefined ? observedMs : estimateMs + LATENCY_WEIGHT * (observedMs - estimateMs);
}

export interface AdaptiveLimiter {
  /** Waits for a slot at most `timeoutMs`; false when none freed up in that time. */
  acquire(timeoutMs: number): Promise<boolean>;
  release(): void;
  /** A successful answer's time. Failures are not latency: a hanging provider must not earn more slots. */
  observeLatency(ms: number): void;
  /** The rate the provider allows now, as the rate limiter enforces it (0 = unlimited). */
  observeRate(perSecond: number): void;
  /** How long a slot is expected to stay taken: the estimate of the provider's latency. */
  latencyMs(): number;
  limit(): number;
  inFlight(): number;
}

/**
 * A semaphore whose size follows `concurrencyFor`. `ratePerSecond` is the rate to assume before the rate
 * limiter has said one; a shrinking limit takes effect as sends finish, a growing one admits waiters at once.
 */
export function createAdaptiveLimiter({ ceiling, ratePerSecond = 0 }: { ceiling: number; ratePerSecond?: number }): AdaptiveLimiter {
  let rate = ratePerSecond;
  let latency: number | undefined;
  let limit = 0;
  let active = 0;
  const waiting: { admit(): void }[] = [];

  const admitWaiting = () => {
    while (active < limit && waiting.length > 0) {
      active += 1;
      waiting.shift()!.admit();
    }
  };
  const recompute = () => {
    limit = concurrencyFor({ ratePerSecond: rate, latencyMs: latency ?? ASSUMED_LATENCY_MS, ceiling });
    admitWaiting();
  };
  recompute();

  return {
    acquire(timeoutMs) {
      if (active < limit && waiting.length === 0) {
        active += 1;
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve) => {
        const entry = {
          admit: () => {
            clearTimeout(timer);
            resolve(true);
          },
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          resolve(false);
        }, timeoutMs);
        waiting.push(entry);
      });
    },
    release() {
      active -= 1;
      admitWaiting();
    },
    observeLatency(ms) {
      latency = nextLatencyEstimate(latency, ms);
      recompute();
    },
    observeRate(perSecond) {
      if (!Number.isFinite(perSecond) || perSecond === rate) return;
      rate = perSecond;
      recompute();
    },
    latencyMs: () => latency ?? ASSUMED_LATENCY_MS,
    limit: () => limit,
    inFlight: () => active,
  };
}
