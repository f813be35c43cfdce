import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/prisma';
import type { StatsSource } from '../dashboard/sources';
import type { ProviderHealth } from '../providers/provider-health';
import type { WritebackOutcome } from '../deliverability/clerk-writeback';
import type { Queues } from '../queue/queues';

export interface MetricsDeps {
  db: Db;
  queues: Pick<Queues, 'all'>;
  deliverability: StatsSource;
  providerHealth: Pick<ProviderHealth, 'states'>;
}

/** The window of the bounce and complaint rate gauges, as on the overview page. */
export const RATE_WINDOW_HOURS = 24;

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Two gauges filled from one read (bounce and complaint rates; queue counts and ages): the registry collects
 * them concurrently, so both share the read in flight instead of querying twice.
 */
function sharedRead<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}

/** Seconds buckets for an auth message: our targets are p95 < 3 s to the provider and < 10 s to the inbox. */
const LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600];

/** How far back the message-status gauge looks: cheap (created_at index) and what on-call cares about. */
export const MESSAGE_GAUGE_WINDOW_HOURS = 24;

/**
 * Every metric auth-relay exports, on a registry of its own (never prom-client's global one), so two
 * instances in one process (tests) do not share counters. Gauges that describe state (messages, queues) are
 * read from Postgres and Redis when Prometheus scrapes.
 */
export function createMetrics({ db, queues, deliverability, providerHealth }: MetricsDeps) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'auth_relay_' });

  const webhooksReceived = new Counter({
    name: 'auth_relay_webhooks_received_total',
    help: 'Webhooks received, by source (clerk, resend, autosend, supabase) and outcome',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  const sendAttempts = new Counter({
    name: 'auth_relay_send_attempts_total',
    help: 'Calls to a provider to send a message, by provider, channel and outcome (sent, transient, permanent)',
    labelNames: ['provider', 'channel', 'outcome'] as const,
    registers: [registry],
  });
  const sendErrors = new Counter({
    name: 'auth_relay_send_errors_total',
    help: 'Failed provider calls, by provider, channel and error class (transient, permanent)',
    labelNames: ['provider', 'channel', 'class'] as const,
    registers: [registry],
  });
  const providerSkips = new Counter({
    name: 'auth_relay_provider_skips_total',
    help: 'Sends that passed a provider by without calling it, by provider, channel and reason (circuit_open, paused, saturated)',
    labelNames: ['provider', 'channel', 'reason'] as const,
    registers: [registry],
  });
  const acceptedToSent = new Histogram({
    name: 'auth_relay_accepted_to_sent_seconds',
    help: 'From accepting a message to a provider accepting it',
    labelNames: ['provider', 'channel'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const sentToDelivered = new Histogram({
    name: 'auth_relay_sent_to_delivered_seconds',
    help: 'From a provider accepting a message to its delivered event',
    labelNames: ['provider', 'channel'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const readRates = sharedRead(async () => {
    const rates = await deliverability.rates(RATE_WINDOW_HOURS);
    return [{ key: 'all', ...rates.overall }, ...rates.providers];
  });
  for (const [name, what, field] of [
    ['auth_relay_bounce_rate', 'Bounced', 'bounce_rate'],
    ['auth_relay_complaint_rate', 'Complained', 'complaint_rate'],
  ] as const) {
    new Gauge({
      name,
      help: `${what} / sent email over the last ${RATE_WINDOW_HOURS} h, by provider ("all" for every provider)`,
      labelNames: ['provider'] as const,
      registers: [registry],
      async collect() {
        const rows = await readRates();
        this.reset();
        for (const r of rows) this.set({ provider: r.key }, r[field]);
      },
    });
  }
  const clerkWriteBacks = new Counter({
    name: 'auth_relay_clerk_writebacks_total',
    help: 'Clerk metadata write-backs, by outcome (updated, retry, skipped, superseded, user_not_found, rejected, gave_up)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  new Gauge({
    name: 'auth_relay_messages',
    help: `Messages created in the last ${MESSAGE_GAUGE_WINDOW_HOURS} h, by current status, provider and channel`,
    labelNames: ['status', 'provider', 'channel'] as const,
    registers: [registry],
    async collect() {
      const since = new Date(Date.now() - MESSAGE_GAUGE_WINDOW_HOURS * 3_600_000);
      const rows = await db.$queryRaw<{ status: string; provider: string | null; channel: string; n: bigint }[]>`
        SELECT status::text AS status, provider, channel::text AS channel, count(*) AS n
        FROM messages WHERE created_at >= ${since}
        GROUP BY 1, 2, 3`;
      this.reset();
      for (const r of rows) this.set({ status: r.status, provider: r.provider ?? 'none', channel: r.channel }, Number(r.n));
    },
  });

  // Providers as the health gate sees them: an open circuit or a pause means messages skip that provider.
  const readProviders = sharedRead(() => providerHealth.states());
  new Gauge({
    name: 'auth_relay_provider_circuit',
    help: 'Provider circuit breaker state: 1 for the current state (closed, open, half_open), 0 for the others',
    labelNames: ['provider', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await readProviders()) {
        for (const state of ['closed', 'open', 'half_open'] as const) this.set({ provider: p.provider, state }, p.circuit === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'auth_relay_provider_consecutive_failures',
    help: 'Failed calls in a row to each provider (the circuit opens at PROVIDER_CIRCUIT_FAILURES)',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await readProviders()) this.set({ provider: p.provider }, p.consecutive_failures);
    },
  });
  new Gauge({
    name: 'auth_relay_provider_paused',
    help: '1 while a provider is paused because it reported its rate limit reached, else 0',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await readProviders()) this.set({ provider: p.provider }, p.paused_until ? 1 : 0);
    },
  });
  new Gauge({
    name: 'auth_relay_provider_paused_seconds',
    help: 'Seconds left in a provider\'s rate-limit pause (capped by PROVIDER_MAX_PAUSE_SECONDS), 0 when not paused',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await readProviders()) this.set({ provider: p.provider }, p.paused_seconds);
    },
  });

  const readQueues = sharedRead(() => queueSnapshot(queues));
  new Gauge({
    name: 'auth_relay_queue_jobs',
    help: 'Jobs in each BullMQ queue, by state',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of await readQueues()) {
        for (const [state, n] of Object.entries(q.counts)) this.set({ queue: q.name, state }, n);
      }
    },
  });
  new Gauge({
    name: 'auth_relay_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting to be picked up, by queue (0 when none waits)',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of await readQueues()) this.set({ queue: q.name }, q.oldestWaitingSeconds ?? 0);
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),

    webhookReceived(source: string, outcome: string): void {
      webhooksReceived.inc({ source, outcome });
    },
    /** One call per provider call, from the delivery service's provider loop. */
    sendAttempt(a: { provider: string; channel: string; outcome: 'sent' | 'transient' | 'permanent'; acceptedToSentSeconds?: number }): void {
      sendAttempts.inc({ provider: a.provider, channel: a.channel, outcome: a.outcome });
      if (a.outcome === 'sent') {
        if (a.acceptedToSentSeconds !== undefined) {
          acceptedToSent.observe({ provider: a.provider, channel: a.channel }, a.acceptedToSentSeconds);
        }
      } else {
        sendErrors.inc({ provider: a.provider, channel: a.channel, class: a.outcome });
      }
    },
    providerSkipped(a: { provider: string; channel: string; reason: string }): void {
      providerSkips.inc(a);
    },
    delivered(a: { provider: string; channel: string; sentToDeliveredSeconds: number }): void {
      sentToDelivered.observe({ provider: a.provider, channel: a.channel }, a.sentToDeliveredSeconds);
    },
    clerkWriteBack(outcome: Extract<WritebackOutcome, { kind: 'done' }>['outcome'] | 'retry'): void {
      clerkWriteBacks.inc({ outcome });
    },
  };
}

export interface QueueSnapshot {
  name: string;
  counts: Record<string, number>;
  /** Null when nothing waits. */
  oldestWaitingSeconds: number | null;
}

/** Depth by state and the age of the oldest waiting job of every queue (the overview page shows the same). */
export async function queueSnapshot(queues: Pick<Queues, 'all'>, now = Date.now()): Promise<QueueSnapshot[]> {
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
