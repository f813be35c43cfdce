import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import { RATE_WINDOW_HOURS, registerGauges, registerPauseAndQueueGauges, type Snapshot } from './shared-gauge-families';

export { RATE_WINDOW_HOURS } from './shared-gauge-families';

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

/** Reads every part of the snapshot at once; a part that fails is logged and left out. */
async function readSnapshot(deps: Pick<SharedGaugesDeps, 'deliverability' | 'providerHealth' | 'queues' | 'log'>): Promise<Snapshot> {
  const part = <T>(name: string, read: () => Promise<T>): Promise<T | undefined> =>
    read().catch((err: unknown) => {
      deps.log.warn(
        { gauges: name, err: err instanceof Error ? err.message : String(err) },
        'could not read shared gauges; left out of /metrics',
      );
      return undefined;
    });
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
  return { ratios, providers, queues };
}

/**
 * The gauges that describe state every process shares (deliverability ratios from Postgres, provider health
 * and queues from Redis). One process at a time exports them: the one holding a lease in Redis, taken by the
 * first process scraped. It reads them once per interval on a timer and a scrape serves them from memory, so
 * scrapes cost no query and N replicas do not export N copies. The others export only their own counters.
 */
export function createSharedGauges(deps: SharedGaugesDeps) {
  const { registry, redis } = deps;
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

  async function refresh(): Promise<void> {
    const read = await readSnapshot(deps);
    if (leader) snapshot = read;
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
