import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLogger } from '../src/lib/logger';
import { createProviderHealth, type ProviderHealthOptions } from '../src/providers/provider-health';
import { LEASE_MS } from '../src/providers/slot-lease';
import type { ProviderOutcome } from '../src/providers/types';
import { TEST_REDIS_URL } from './helpers/config';
import { waitFor } from './helpers/wait';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(() => redis.quit());

/** Two "processes" (two health objects) on one Redis prefix, with a clock the test moves. */
function setup(overrides: Partial<ProviderHealthOptions> = {}) {
  const clock = { now: Date.now() };
  const options: ProviderHealthOptions = {
    redis,
    prefix: `t-health-${randomBytes(4).toString('hex')}`,
    providers: ['resend', 'autosend'],
    limits: {},
    failureThreshold: 3,
    openMs: 10_000,
    probeLeaseMs: 5_000,
    maxWaitMs: 200,
    maxPauseMs: 60_000,
    log: createLogger('silent'),
    now: () => clock.now,
    ...overrides,
  };
  const hashOf = (provider: string) => `${options.prefix}:provider-health:${provider}`;
  return { clock, hashOf, a: createProviderHealth(options), b: createProviderHealth(options) };
}

const down = (): Promise<ProviderOutcome> =>
  Promise.resolve({ kind: 'retry' as const, message: 'HTTP 503', status: 503, unanswered: false });
const up = (): Promise<ProviderOutcome> => Promise.resolve({ kind: 'sent' as const, providerMessageId: 'x' });
const outcome = (p: Promise<unknown>) =>
  p.then(
    (r) => r,
    (e: unknown) => (e instanceof Error ? e.message : e),
  );

describe('circuit breaker', () => {
  it('opens after N consecutive failures across processes, lets one probe through after the cool-down, closes on success', async () => {
    const { clock, a, b } = setup();
    await outcome(a.call('resend', down));
    await outcome(b.call('resend', down));
    expect((await a.states())[0]).toMatchObject({ provider: 'resend', circuit: 'closed', consecutive_failures: 2 });
    await outcome(a.call('resend', down));
    expect((await b.states())[0]).toMatchObject({ circuit: 'open', consecutive_failures: 3 });

    // Open: skipped without calling the provider, in every process; the other provider is unaffected.
    const send = jest.fn(up);
    expect(await b.call('resend', send)).toEqual({ ok: false, reason: 'circuit_open', retryInMs: 10_000 });
    expect(send).not.toHaveBeenCalled();
    expect(await b.call('autosend', up)).toMatchObject({ ok: true });

    clock.now += 10_001;
    expect((await a.states())[0]!.circuit).toBe('half_open');
    // Half-open: exactly one probe; while it is out, the others are still skipped.
    let finishProbe!: () => void;
    const probe = a.call(
      'resend',
      () => new Promise<ProviderOutcome>((resolve) => (finishProbe = () => resolve({ kind: 'sent' as const, providerMessageId: 'p' }))),
    );
    // The probe is out once its send has started.
    await waitFor(() => finishProbe !== undefined);
    expect(await b.call('resend', up)).toMatchObject({ ok: false, reason: 'circuit_open' });
    finishProbe();
    expect(await probe).toMatchObject({ ok: true });
    expect((await b.states())[0]).toMatchObject({ circuit: 'closed', consecutive_failures: 0, open_until: null });
    expect(await b.call('resend', up)).toMatchObject({ ok: true });
  });

  it('re-opens when the probe fails', async () => {
    const { clock, a } = setup({ failureThreshold: 1 });
    await outcome(a.call('resend', down));
    clock.now += 10_001;
    // The probe was let through and its failure came back.
    expect(await outcome(a.call('resend', down))).toMatchObject({ ok: true, value: { message: 'HTTP 503' } });
    expect((await a.states())[0]).toMatchObject({ circuit: 'open', open_until: new Date(clock.now + 10_000).toISOString() });
  });

  it('does not count per-message refusals or rate limits as the provider being down', async () => {
    const { a } = setup({ failureThreshold: 1 });
    await outcome(
      a.call('resend', (): Promise<ProviderOutcome> => Promise.resolve({ kind: 'failed' as const, message: 'invalid to', status: 422 })),
    );
    await outcome(
      a.call('resend', (): Promise<ProviderOutcome> =>
        Promise.resolve({ kind: 'rate_limited' as const, message: '429', status: null, retryAfterMs: 50 }),
      ),
    );
    expect((await a.states())[0]!.circuit).toBe('closed');
  });

  it('counts a refused key or a spent quota (another provider could send)', async () => {
    const { a } = setup({ failureThreshold: 1 });
    await outcome(
      a.call('resend', (): Promise<ProviderOutcome> => Promise.resolve({ kind: 'fail_over' as const, message: 'quota', status: 429 })),
    );
    expect((await a.states())[0]!.circuit).toBe('open');
  });
});

describe('rate limits', () => {
  it('pauses only the provider that answered 429, until its Retry-After', async () => {
    const { clock, a, b } = setup();
    await outcome(
      a.call('resend', (): Promise<ProviderOutcome> =>
        Promise.resolve({ kind: 'rate_limited' as const, message: '429', status: null, retryAfterMs: 3_000 }),
      ),
    );
    expect(await b.call('resend', up)).toEqual({ ok: false, reason: 'paused', retryInMs: 3_000 });
    expect(await b.call('autosend', up)).toMatchObject({ ok: true });
    expect((await b.states())[0]!.paused_until).toBe(new Date(clock.now + 3_000).toISOString());
    clock.now += 3_000;
    expect(await b.call('resend', up)).toMatchObject({ ok: true });
  });

  it('caps a pause at maxPauseMs whatever the Retry-After, and reports what is left of it', async () => {
    const { clock, a, b } = setup({ maxPauseMs: 2_000 });
    await outcome(
      a.call('resend', (): Promise<ProviderOutcome> =>
        Promise.resolve({ kind: 'rate_limited' as const, message: '429', status: null, retryAfterMs: 3_600_000 }),
      ),
    );
    expect(await b.call('resend', up)).toEqual({ ok: false, reason: 'paused', retryInMs: 2_000 });
    expect((await b.states())[0]).toMatchObject({ paused_until: new Date(clock.now + 2_000).toISOString(), paused_seconds: 2 });
    clock.now += 2_000;
    expect(await b.call('resend', up)).toMatchObject({ ok: true });
    expect((await b.states())[0]).toMatchObject({ paused_until: null, paused_seconds: 0 });
  });

  it('pauses before a 429 when the provider says no requests remain in the window', async () => {
    const { a } = setup();
    await a.call('resend', (): Promise<ProviderOutcome> =>
      Promise.resolve({ kind: 'sent' as const, providerMessageId: 'x', rateLimit: { perSecond: 5, remaining: 0, resetMs: 900 } }),
    );
    expect(await a.call('resend', up)).toEqual({ ok: false, reason: 'paused', retryInMs: 900 });
  });

  it('spaces requests at the configured rate, shared across processes, and skips a provider too far behind', async () => {
    const { a, b } = setup({ limits: { resend: { defaultPerSecond: 10 } }, maxWaitMs: 150 });
    // 10/s: one slot every 100 ms; with 150 ms of patience the first two go (one at once, one after 100 ms)…
    const [first, second] = await Promise.all([a.call('resend', up), b.call('resend', up)]);
    expect([first.ok, second.ok]).toEqual([true, true]);
    // …and a third, 200 ms behind, is told the provider is saturated.
    const third = await a.call('resend', up);
    expect(third).toMatchObject({ ok: false, reason: 'saturated' });
  });

  it('follows the rate the provider reports as soon as it reports it', async () => {
    const { a } = setup({ limits: { resend: { defaultPerSecond: 2 } } });
    // The first send goes at the guessed 2/s, so the next slot would be 500 ms away…
    await a.call('resend', (): Promise<ProviderOutcome> =>
      Promise.resolve({ kind: 'sent' as const, providerMessageId: 'x', rateLimit: { perSecond: 20, remaining: 19, resetMs: 1000 } }),
    );
    expect((await a.states())[0]!.reported_per_second).toBe(20);
    // …but Resend says 20/s: sends 50 ms apart now fit in 200 ms of patience.
    expect(await a.call('resend', up)).toMatchObject({ ok: true });
    expect(await a.call('resend', up)).toMatchObject({ ok: true });
  });

  it('never goes above the configured ceiling, whatever the provider reports', async () => {
    const { a } = setup({ limits: { resend: { defaultPerSecond: 4, maxPerSecond: 4 } } });
    await a.call('resend', (): Promise<ProviderOutcome> =>
      Promise.resolve({ kind: 'sent' as const, providerMessageId: 'x', rateLimit: { perSecond: 20 } }),
    );
    // 4/s: the next slot is 250 ms away, beyond 200 ms of patience.
    expect(await a.call('resend', up)).toMatchObject({ ok: false, reason: 'saturated' });
  });
});

describe('round trips', () => {
  it('leaves Redis alone after a plain success that changes nothing, and records the first success after a failure', async () => {
    const { clock, a, b } = setup();
    const scripts = jest.spyOn(redis, 'evalsha');
    // Each send here asks for its slot: the lease the last one took has lapsed (leased slots are below).
    const roundTrips = async (call: () => Promise<unknown>) => {
      clock.now += LEASE_MS;
      const before = scripts.mock.calls.length;
      await call();
      return scripts.mock.calls.length - before;
    };
    try {
      // The slot's script only: the answer changes nothing.
      expect(await roundTrips(() => a.call('resend', up))).toBe(1);
      expect(await roundTrips(() => b.call('resend', down))).toBe(2);
      // The failure is counted; the next success resets it, in whichever process.
      expect(await roundTrips(() => a.call('resend', up))).toBe(2);
      expect((await b.states())[0]).toMatchObject({ circuit: 'closed', consecutive_failures: 0 });
      expect(await roundTrips(() => a.call('resend', up))).toBe(1);

      // A rate the provider reports is learned; seen again, it is not written again.
      const reporting = () =>
        Promise.resolve({ kind: 'sent' as const, providerMessageId: 'x', rateLimit: { perSecond: 20, remaining: 19 } });
      expect(await roundTrips(() => a.call('resend', reporting))).toBe(2);
      expect((await b.states())[0]!.reported_per_second).toBe(20);
      expect(await roundTrips(() => a.call('resend', reporting))).toBe(1);
      // No requests left in the window: a pause, recorded.
      const spent = () =>
        Promise.resolve({ kind: 'sent' as const, providerMessageId: 'x', rateLimit: { perSecond: 20, remaining: 0, resetMs: 1_000 } });
      expect(await roundTrips(() => a.call('resend', spent))).toBe(2);
      expect((await b.states())[0]!.paused_until).not.toBeNull();
    } finally {
      scripts.mockRestore();
    }
  });

  it("records a success that followed this process's own failure while it was out", async () => {
    const { a, b } = setup();
    let answer!: () => void;
    const slow = a.call(
      'resend',
      () => new Promise<ProviderOutcome>((resolve) => (answer = () => resolve({ kind: 'sent', providerMessageId: 'x' }))),
    );
    await waitFor(() => answer !== undefined);
    await a.call('resend', down);
    expect((await b.states())[0]!.consecutive_failures).toBe(1);
    answer();
    await slow;
    expect((await b.states())[0]!.consecutive_failures).toBe(0);
  });
});

describe('leased slots', () => {
  const countTrips = () => {
    const scripts = jest.spyOn(redis, 'evalsha');
    return { trips: () => scripts.mock.calls.length, restore: () => scripts.mockRestore() };
  };

  it('takes a burst of sends in a few round trips, and asks Redis again after a failure of its own', async () => {
    const { a } = setup();
    const { trips, restore } = countTrips();
    try {
      // Each lease is twice the last while each is used up: 2 + 4 + 8 + 16 slots in four trips.
      for (let i = 0; i < 20; i += 1) expect(await a.call('resend', up)).toMatchObject({ ok: true });
      expect(trips()).toBe(4);
      // The failure takes a leased slot, is recorded, and ends the lease: the next send asks Redis for its
      // slot (which finds the failure counted) and records its success.
      await outcome(a.call('resend', down));
      expect(trips()).toBe(5);
      expect(await a.call('resend', up)).toMatchObject({ ok: true });
      expect(trips()).toBe(7);
      expect((await a.states())[0]!.consecutive_failures).toBe(0);
    } finally {
      restore();
    }
  });

  it('serves a burst from one lease at a time: the sends that waited for it take its slots', async () => {
    const { a } = setup();
    const scripts = jest.spyOn(redis, 'evalsha');
    try {
      // Ten sends at once, as a worker's jobs start together: the first asks for a first lease (two slots),
      // the nine others wait for it; one takes its second slot, and the next asks for a lease as big as the
      // wait was (ten) for itself and the seven still waiting.
      await Promise.all(Array.from({ length: 10 }, () => a.call('resend', up)));
      // ACQUIRE's `want` (its eighth argument, after the SHA, the key count and the key).
      expect(scripts.mock.calls.map((call) => Number(call[10]))).toEqual([2, 10]);
      // That lease has two slots left: the next sends take them.
      await a.call('resend', up);
      await a.call('resend', up);
      expect(scripts).toHaveBeenCalledTimes(2);
    } finally {
      scripts.mockRestore();
    }
  });

  it("sees another process's open circuit once its lease lapses", async () => {
    const first = setup({ failureThreshold: 1 });
    await first.a.call('resend', up); // asked for two: one is left
    await outcome(first.b.call('resend', down));
    expect((await first.a.states())[0]!.circuit).toBe('open');
    // Within the lease the slot granted still goes (at most LEASE_MS late)…
    const leased = jest.fn(up);
    expect(await first.a.call('resend', leased)).toMatchObject({ ok: true });
    expect(leased).toHaveBeenCalled();

    // …and once the lease has lapsed, the open circuit holds this process too.
    const { clock, a, b } = setup({ failureThreshold: 1 });
    await a.call('resend', up);
    await outcome(b.call('resend', down));
    clock.now += LEASE_MS;
    const skipped = jest.fn(up);
    expect(await a.call('resend', skipped)).toMatchObject({ ok: false, reason: 'circuit_open' });
    expect(skipped).not.toHaveBeenCalled();
  });

  it('keeps to the rate: a lease takes at most 2 ms of it, and its slots follow one another in the shared sequence', async () => {
    const { clock, hashOf, a, b } = setup({ limits: { resend: { defaultPerSecond: 1_000 } } });
    const { trips, restore } = countTrips();
    try {
      for (let i = 0; i < 10; i += 1) await a.call('resend', up);
      // 1 000/s: two slots a lease, however many are asked for.
      expect(trips()).toBe(5);
      await b.call('resend', up);
    } finally {
      restore();
    }
    // The clock stood still: a's ten slots and then b's two, a millisecond apart from it, none skipped and
    // none given twice.
    expect(Number(await redis.hget(hashOf('resend'), 'tat'))).toBe(clock.now + 12);
  });

  it('leases nothing at a rate that allows fewer than two slots in 2 ms', async () => {
    const { a } = setup({ limits: { resend: { defaultPerSecond: 500 } } });
    const { trips, restore } = countTrips();
    try {
      for (let i = 0; i < 6; i += 1) await a.call('resend', up);
      expect(trips()).toBe(6);
    } finally {
      restore();
    }
  });
});

describe('concurrency', () => {
  it('holds at most N sends in flight per provider in a process', async () => {
    const { a } = setup({ limits: { resend: { concurrency: 2 } } });
    let inFlight = 0;
    let peak = 0;
    const send = async (): Promise<ProviderOutcome> => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight -= 1;
      return { kind: 'sent' as const, providerMessageId: 'x' };
    };
    await Promise.all(Array.from({ length: 6 }, () => a.call('resend', send)));
    expect(peak).toBe(2);
  });
});
