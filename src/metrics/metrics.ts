import { AggregatorRegistry, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { MessageStatus } from '../generated/prisma/enums';
import { instrumentsOn } from './instruments';
import { createSharedGauges, type SharedGaugesDeps } from './shared-gauges';

export { queueSnapshot, RATE_WINDOW_HOURS, type QueueSnapshot } from './shared-gauges';

export type MetricsDeps = Omit<SharedGaugesDeps, 'registry' | 'intervalMs'> & {
  /** How often the shared gauges are read again (tests shorten it). */
  sharedGaugesIntervalMs?: number;
};

export type Metrics = ReturnType<typeof createMetrics>;

/** A registry's metrics as JSON (`registry.getMetricsAsJSON()`), the form they cross a process boundary in. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Seconds buckets for an auth message: our targets are p95 < 3 s to the provider and < 10 s to the inbox. */
const LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600];

/** Seconds buckets for HTTP answers: 5 s is Supabase's hook budget, so it is a bucket edge. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** This process's own counters and histograms, on `registry`. */
function instruments(registry: Registry) {
  const { counter, histogram } = instrumentsOn(registry);
  const webhooksReceived = counter(
    'auth_relay_webhooks_received_total',
    'Webhooks received, by source (clerk, resend, autosend, supabase) and outcome',
    ['source', 'outcome'],
  );
  const sendAttempts = counter(
    'auth_relay_send_attempts_total',
    'Calls to a provider to send a message, by provider, channel and outcome (sent, transient, permanent)',
    ['provider', 'channel', 'outcome'],
  );
  const sendErrors = counter(
    'auth_relay_send_errors_total',
    'Failed provider calls, by provider, channel and error class (transient, permanent)',
    ['provider', 'channel', 'class'],
  );
  const providerSkips = counter(
    'auth_relay_provider_skips_total',
    'Sends that passed a provider by without calling it, by provider, channel and reason (circuit_open, paused, saturated)',
    ['provider', 'channel', 'reason'],
  );
  const acceptedToSent = histogram(
    'auth_relay_accepted_to_sent_seconds',
    'From accepting a message to a provider accepting it',
    ['provider', 'channel'],
    LATENCY_BUCKETS,
  );
  const sentToDelivered = histogram(
    'auth_relay_sent_to_delivered_seconds',
    'From a provider accepting a message to its delivered event',
    ['provider', 'channel'],
    LATENCY_BUCKETS,
  );
  const clerkWriteBacks = counter(
    'auth_relay_clerk_writebacks_total',
    'Clerk metadata write-backs, by outcome (updated, retry, skipped, superseded, user_not_found, rejected, gave_up)',
    ['outcome'],
  );
  const messageOutcomes = counter(
    'auth_relay_message_outcomes_total',
    'Messages that reached a status (sent, delivered, delayed, bounced, complained, failed, suppressed, expired), by provider and channel',
    ['status', 'provider', 'channel'],
  );
  const httpDuration = histogram(
    'http_request_duration_seconds',
    'HTTP answers, by method, route template and status code',
    ['method', 'route', 'status_code'],
    HTTP_BUCKETS,
  );
  return {
    webhooksReceived,
    sendAttempts,
    sendErrors,
    providerSkips,
    acceptedToSent,
    sentToDelivered,
    clerkWriteBacks,
    messageOutcomes,
    httpDuration,
  };
}

/**
 * Every metric auth-relay exports, on a registry of its own (never prom-client's global one), so two
 * instances in one process (tests) do not share counters. Counters and histograms are this process's own;
 * the gauges of shared state come from one process at a time (shared-gauges.ts).
 */
export function createMetrics({ sharedGaugesIntervalMs, ...deps }: MetricsDeps) {
  const registry = new Registry();
  // prom-client's standard names (process_*, nodejs_*), so stock Node.js dashboards work unchanged.
  collectDefaultMetrics({ register: registry });
  const shared = createSharedGauges({ registry, intervalMs: sharedGaugesIntervalMs, ...deps });

  const {
    webhooksReceived,
    sendAttempts,
    sendErrors,
    providerSkips,
    acceptedToSent,
    sentToDelivered,
    clerkWriteBacks,
    messageOutcomes,
    httpDuration,
  } = instruments(registry);

  /** Other processes whose metrics this one exports with its own (ROLE=all's worker process). */
  const sources: (() => Promise<MetricsJson>)[] = [];

  return {
    registry,
    contentType: registry.contentType,
    /** This process's metrics with its sources', counters and histograms summed as prom-client's cluster mode does. */
    async text(): Promise<string> {
      await shared.beforeScrape();
      if (sources.length === 0) return registry.metrics();
      const parts = await Promise.all([registry.getMetricsAsJSON() as Promise<MetricsJson>, ...sources.map((source) => source())]);
      return AggregatorRegistry.aggregate(parts).metrics();
    },
    addSource(source: () => Promise<MetricsJson>): void {
      sources.push(source);
    },
    close: () => shared.close(),

    webhookReceived(source: string, outcome: string): void {
      webhooksReceived.inc({ source, outcome });
    },
    /** One call per provider call, from the delivery service's provider loop. */
    sendAttempt(a: {
      provider: string;
      channel: string;
      outcome: 'sent' | 'transient' | 'permanent';
      acceptedToSentSeconds?: number;
    }): void {
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
    /** A message entered `status`: counted where the status is written, once per change. */
    messageOutcome(a: { status: MessageStatus; provider: string | null; channel: string }): void {
      messageOutcomes.inc({ status: a.status, provider: a.provider ?? 'none', channel: a.channel });
    },
    httpRequest(a: { method: string; route: string; statusCode: number; seconds: number }): void {
      httpDuration.observe({ method: a.method, route: a.route, status_code: String(a.statusCode) }, a.seconds);
    },
    /** A write-back's outcome (deliverability/clerk-writeback.ts), or `retry`. */
    clerkWriteBack(outcome: string): void {
      clerkWriteBacks.inc({ outcome });
    },
  };
}
