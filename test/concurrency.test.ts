import { ASSUMED_LATENCY_MS, concurrencyFor, createAdaptiveLimiter, nextLatencyEstimate } from '../src/providers/concurrency';

describe('concurrencyFor (in flight = rate × latency, with headroom, bounded)', () => {
  it.each([
    // rate/s, latency ms, ceiling → limit
    [100_000, 50, 50, 50], // the provider allows far more than the ceiling
    [200, 50, 50, 16], // 10 needed, × 1.5 + 1
    [500, 50, 100, 39], // 25 needed
    [2, 50, 50, 2], // Resend's cautious default: one at a time and one spare
    [10, 1_000, 50, 16], // a slow provider needs more in flight for the same rate
    [0, 50, 50, 50], // nothing limits the rate: the ceiling alone
    [1, 1, 50, 2],
  ])('%d/s at %d ms, ceiling %d → %d', (ratePerSecond, latencyMs, ceiling, limit) => {
    expect(concurrencyFor({ ratePerSecond, latencyMs, ceiling })).toBe(limit);
  });

  it('never goes below one, nor above the ceiling', () => {
    expect(concurrencyFor({ ratePerSecond: 0.01, latencyMs: 1, ceiling: 1 })).toBe(1);
    expect(concurrencyFor({ ratePerSecond: 1e9, latencyMs: 10_000, ceiling: 7 })).toBe(7);
  });

  it('averages latency over the recent answers, starting from the first', () => {
    expect(nextLatencyEstimate(undefined, 80)).toBe(80);
    let estimate = 50;
    for (let i = 0; i < 50; i += 1) estimate = nextLatencyEstimate(estimate, 500);
    expect(estimate).toBeGreaterThan(495);
    expect(nextLatencyEstimate(100, 200)).toBeCloseTo(110);
  });
});

describe('createAdaptiveLimiter', () => {
  const acquireMany = (limiter: ReturnType<typeof createAdaptiveLimiter>, n: number, timeoutMs = 1_000) =>
    Array.from({ length: n }, () => limiter.acquire(timeoutMs));

  it('starts from the starting rate and the assumed latency, then follows the rate the gate reports', async () => {
    const limiter = createAdaptiveLimiter({ ceiling: 50, ratePerSecond: 2 });
    expect(limiter.limit()).toBe(concurrencyFor({ ratePerSecond: 2, latencyMs: ASSUMED_LATENCY_MS, ceiling: 50 }));
    limiter.observeRate(100_000);
    expect(limiter.limit()).toBe(50);
    limiter.observeRate(Number.NaN);
    expect(limiter.limit()).toBe(50);
  });

  it('admits waiters as soon as the limit grows, and lets a shrinking limit take effect as sends finish', async () => {
    const limiter = createAdaptiveLimiter({ ceiling: 10, ratePerSecond: 2 });
    expect(limiter.limit()).toBe(2);
    const admitted: boolean[] = [];
    const pending = acquireMany(limiter, 6).map((p) => p.then((ok) => admitted.push(ok)));
    await Promise.resolve();
    expect(admitted).toHaveLength(2);
    expect(limiter.inFlight()).toBe(2);

    limiter.observeRate(1_000);
    await Promise.all(pending);
    expect(admitted).toEqual([true, true, true, true, true, true]);
    expect(limiter.inFlight()).toBe(6);

    limiter.observeRate(2);
    for (let i = 0; i < 3; i += 1) limiter.release();
    // Three still out, over the limit of two: a newcomer waits for two more to finish.
    let late: boolean | undefined;
    void limiter.acquire(1_000).then((ok) => (late = ok));
    limiter.release();
    await Promise.resolve();
    expect(late).toBeUndefined();
    limiter.release();
    await new Promise((r) => setImmediate(r));
    expect(late).toBe(true);
    expect(limiter.inFlight()).toBe(2);
  });

  it('gives up on a slot after the timeout, and the slot is not lost', async () => {
    jest.useFakeTimers();
    try {
      const limiter = createAdaptiveLimiter({ ceiling: 1 });
      expect(await limiter.acquire(100)).toBe(true);
      const waiting = limiter.acquire(100);
      jest.advanceTimersByTime(100);
      expect(await waiting).toBe(false);
      expect(limiter.inFlight()).toBe(1);
      limiter.release();
      expect(await limiter.acquire(100)).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  it('gives a slower provider more slots for the same rate, up to the ceiling', () => {
    const limiter = createAdaptiveLimiter({ ceiling: 40, ratePerSecond: 100 });
    for (let i = 0; i < 100; i += 1) limiter.observeLatency(50);
    expect(limiter.limit()).toBe(concurrencyFor({ ratePerSecond: 100, latencyMs: 50, ceiling: 40 }));
    for (let i = 0; i < 100; i += 1) limiter.observeLatency(200);
    expect(limiter.limit()).toBe(31);
    for (let i = 0; i < 100; i += 1) limiter.observeLatency(5_000);
    expect(limiter.limit()).toBe(40);
    expect(limiter.latencyMs()).toBeGreaterThan(4_900);
  });

  it('has no limit without a ceiling or a rate', async () => {
    const limiter = createAdaptiveLimiter({ ceiling: Number.POSITIVE_INFINITY });
    expect(await Promise.all(acquireMany(limiter, 1_000))).toEqual(Array(1_000).fill(true));
  });
});
