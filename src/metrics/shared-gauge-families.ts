import { Gauge, type Registry } from 'prom-client';
import type { ProviderGaugeState, QueueSnapshot } from './shared-gauges';

/** The gauge families the shared-gauges leader exports (shared-gauges.ts decides who leads and reads them). */

/** The window of the bounce and complaint ratio gauges, as on the overview page. */
export const RATE_WINDOW_HOURS = 24;

interface RatioRow {
  provider: string;
  bounce_rate: number;
  complaint_rate: number;
}

/** What the shared gauges show; a part whose read failed is absent (no stale values), the rest still shows. */
export interface Snapshot {
  ratios?: RatioRow[];
  providers?: ProviderGaugeState[];
  queues?: QueueSnapshot[];
}

/** The shared gauges, read from whatever `current` holds at each scrape (an empty snapshot when not leading). */
export function registerGauges(registry: Registry, current: () => { leader: boolean; snapshot: Snapshot }): void {
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
export function registerPauseAndQueueGauges(registry: Registry, current: () => { snapshot: Snapshot }): void {
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
