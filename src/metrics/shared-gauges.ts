import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';

/** The window of the bounce and complaint ratio gauges, as on the overview page. */
export const RATE_WINDOW_HOURS = 24;

/** How often the leader reads the shared gauges again: about one Prometheus scrape interval. */
export const SHARED_GAUGES_INTERVAL_MS = 15_000;

/** A leader nobody has scraped for this long hands the lease on, so a process no longer scraped cannot keep it. */
const IDLE_MS = 5 * 60_000;

/*
 * What the gauges read, as the readers' own shapes: the container passes the deliverability stats
 * (dashboard/sources.ts), the provider health gate (providers/provider-health.ts) and the queues in, and
 * metrics/ stays below them.
 */

/** Each provider's bounce and complaint rates over a window. */
interface RateReading {
  key: string;
  bounce_rate: number;
  complaint_rate: number;
}
export interface RatesSource {
  rates(windowHours: number): Promise<{ overall: Omit<RateReading, 'key'>; providers: RateReading[] }>;
}

/** A provider as the health gate sees it: its circuit, failures in a row and pause. */
export interface ProviderGaugeState {
  provider: string;
  circuit: 'closed' | 'open' | 'half_open';
  consecutive_failures: number;
  paused_until: string | null;
}

export interface QueueSource {
  all(): Queue[];
}

export interface QueueSnapshot {
  name: string;
  counts: Record<string, number>;
  /** Null when nothing waits. */
  oldestWaitingSeconds: number | null;
}

/** Depth by state and the age of the oldest waiting job of every queue (the overview page shows the same). */
export async function queueSnapshot(queues: QueueSource, now = Date.now()): Promise<QueueSnapshot[]> {
  return Promise.all(
    queues.all().map(async (queue) => {
      const [counts, [oldest]] = await Promise.all([
        queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed'),
        queue.getJobs(['waiting'], 0, 0, true),
      ]);
      return {
        name: queue.name,
        counts,
        oldestWaitingSeconds: oldest ? Math.max(0, (now - oldest.timestamp) / 1000) : null,
      };
    }),
  );
}

interface RatioRow {
  provider: string;
  bounce_rate: number;
  complaint_rate: number;
}

/** What the shared gauges show; a part whose read failed is absent (no stale values), the rest still shows. */
interface Snapshot {
  ratios?: RatioRow[];
  providers?: ProviderGaugeState[];
  queues?: QueueSnapshot[];
}

export interface SharedGaugesDeps {
  registry: Registry;
  redis: RedisClient;
  /** QUEUE_PREFIX: one lease per deployment. */
  prefix: string;
  queues: QueueSource;
  deliverability: RatesSource;
  providerHealth: { states(): Promise<ProviderGaugeState[]> };
  log: Logger;
  intervalMs?: number;
}

// Take the lease if it is free, or extend it if it is ours; 1 when we hold it.
const HOLD = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2])
elseif redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** The shared gauges, read from whatever `current` holds at each scrape (an empty snapshot when not leading). */
function registerGauges(registry: Registry, current: () => { leader: boolean; snapshot: Snapshot }): void {
  new Gauge({
    name: 'auth_relay_shared_gauges_leader',
    help: '1 in the one process that exports the shared gauges (ratios, provider health, queues), else 0',
    registers: [registry],
    collect() {
      this.set(current().leader ? 1 : 0);
    },
  });
  for (const [name, what, field] of [
    ['auth_relay_bounce_ratio', 'Hard-bounced', 'bounce_rate'],
    ['auth_relay_complaint_ratio', 'Complained', 'complaint_rate'],
  ] as const) {
    new Gauge({
      name,
      help: `${what} / sent email over the last ${RATE_WINDOW_HOURS} h, by provider ("all" for every provider)`,
      labelNames: ['provider'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const r of current().snapshot.ratios ?? []) this.set({ provider: r.provider }, r[field]);
      },
    });
  }
  new Gauge({
    name: 'auth_relay_provider_circuit',
    help: 'Provider circuit breaker state: 1 for the current state (closed, open, half_open), 0 for the others',
    labelNames: ['provider', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of current().snapshot.providers ?? []) {
        for (const state of ['closed', 'open', 'half_open'] as const)
          this.set({ provider: p.provider, state }, p.circuit === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'auth_relay_provider_consecutive_failures',
    help: 'Failed calls in a row to each provider (the circuit opens at PROVIDER_CIRCUIT_FAILURES)',
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of current().snapshot.providers ?? []) this.set({ provider: p.provider }, p.consecutive_failures);
    },
  });
}

/** The rate-limit pause and queue gauges (registerGauges has the rest). */
function registerPauseAndQueueGauges(registry: Registry, current: () => { snapshot: Snapshot }): void {
  new Gauge({
    name: 'auth_relay_provider_paused',
    help: '1 while a provider is paused because it reported its rate limit reached, else 0',
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of current().snapshot.providers ?? []) this.set({ provider: p.provider }, p.paused_until ? 1 : 0);
    },
  });
  new Gauge({
    name: 'auth_relay_provider_paused_seconds',
    help: "Seconds left in a provider's rate-limit pause (capped by PROVIDER_MAX_PAUSE_SECONDS), 0 when not paused",
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      // Counted down from the pause's end at each scrape: the snapshot itself may be an interval old.
      const now = Date.now();
      for (const p of current().snapshot.providers ?? []) {
        this.set({ provider: p.provider }, p.paused_until ? Math.max(0, (Date.parse(p.paused_until) - now) / 1000) : 0);
      }
    },
  });
  new Gauge({
    name: 'auth_relay_queue_jobs',
    help: 'Jobs in each BullMQ queue, by state',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const q of current().snapshot.queues ?? []) {
        for (const [state, n] of Object.entries(q.counts)) this.set({ queue: q.name, state }, n);
      }
    },
  });
  new Gauge({
    name: 'auth_relay_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting to be picked up, by queue (0 when none waits)',
    labelNames: ['queue'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const q of current().snapshot.queues ?? []) this.set({ queue: q.name }, q.oldestWaitingSeconds ?? 0);
    },
  });
}

/**
 * The gauges that describe state every process shares (deliverability ratios from Postgres, provider health
 * and queues from Redis). One process at a time exports them: the one holding a lease in Redis, taken by the
 * first process scraped. It reads them once per interval on a timer and a scrape serves them from memory, so
 * scrapes cost no query and N replicas do not export N copies. The others export only their own counters.
 */
export function createSharedGauges(deps: SharedGaugesDeps) {
  const { registry, redis, log } = deps;
  const intervalMs = deps.intervalMs ?? SHARED_GAUGES_INTERVAL_MS;
  const leaseKey = `${deps.prefix}:metrics:leader`;
  const leaseMs = String(3 * intervalMs);
  const id = randomBytes(8).toString('hex');
  let snapshot: Snapshot = {};
  let leader = false;
  let timer: NodeJS.Timeout | undefined;
  let lastScrape = 0;
  let acquiring: Promise<void> | null = null;
  let ticking: Promise<void> | null = null;

  const part = <T>(name: string, read: () => Promise<T>): Promise<T | undefined> =>
    read().catch((err: unknown) => {
      log.warn(
        { gauges: name, err: err instanceof Error ? err.message : String(err) },
        'could not read shared gauges; left out of /metrics',
      );
      return undefined;
    });

  async function refresh(): Promise<void> {
    const [ratios, providers, queues] = await Promise.all([
      part('ratios', async () => {
        const rates = await deps.deliverability.rates(RATE_WINDOW_HOURS);
        return [{ key: 'all', ...rates.overall }, ...rates.providers].map((r) => ({
          provider: r.key,
          bounce_rate: r.bounce_rate,
          complaint_rate: r.complaint_rate,
        }));
      }),
      part('providers', () => deps.providerHealth.states()),
      part('queues', () => queueSnapshot(deps.queues)),
    ]);
    if (leader) snapshot = { ratios, providers, queues };
  }

  function stepDown(): void {
    leader = false;
    snapshot = {};
    clearInterval(timer);
    timer = undefined;
  }

  async function tick(): Promise<void> {
    if (Date.now() - lastScrape > IDLE_MS) {
      stepDown();
      await redis.eval(RELEASE, 1, leaseKey, id).catch(() => undefined);
      return;
    }
    // Redis unreachable: keep the lease we had (nobody else can take it meanwhile) and read what still answers.
    const held = await redis.eval(HOLD, 1, leaseKey, id, leaseMs).then(
      (r) => r === 1,
      () => true,
    );
    if (!held) return stepDown();
    await refresh();
  }

  async function acquire(): Promise<void> {
    const held = await redis.eval(HOLD, 1, leaseKey, id, leaseMs).then(
      (r) => r === 1,
      () => false,
    );
    if (!held || leader) return;
    leader = true;
    await refresh();
    // A read slower than the interval is not started twice.
    timer = setInterval(() => {
      ticking ??= tick().finally(() => (ticking = null));
    }, intervalMs);
    timer.unref();
  }

  registerGauges(registry, () => ({ leader, snapshot }));
  registerPauseAndQueueGauges(registry, () => ({ snapshot }));

  return {
    /** Before a scrape renders: a process not yet leading tries for the lease (one Redis call, no query). */
    async beforeScrape(): Promise<void> {
      lastScrape = Date.now();
      if (leader) return;
      acquiring ??= acquire().finally(() => (acquiring = null));
      await acquiring;
    },
    async close(): Promise<void> {
      const wasLeader = leader;
      stepDown();
      await Promise.all([acquiring, ticking]).catch(() => undefined);
      if (wasLeader) await redis.eval(RELEASE, 1, leaseKey, id).catch(() => undefined);
    },
  };
}
