import { Counter, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome } from './sender';

/** Calls to tenant endpoints, by endpoint id and outcome, on the process's registry (src/metrics/metrics.ts). */
export function createOutboundMetrics(registry: Registry) {
  const attempts = new Counter({
    name: 'auth_relay_outbound_webhook_attempts_total',
    help: 'Calls to outbound webhook endpoints, by endpoint id and outcome (succeeded, http_error, timeout, network_error, refused)',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'auth_relay_outbound_webhook_duration_seconds',
    help: 'How long outbound webhook endpoints took to answer, by endpoint id',
    labelNames: ['endpoint'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers: [registry],
  });
  return {
    attempt(endpoint: string, outcome: AttemptOutcome, latencyMs: number): void {
      attempts.inc({ endpoint, outcome });
      if (outcome !== 'refused') seconds.observe({ endpoint }, latencyMs / 1000);
    },
  };
}

export type OutboundMetrics = ReturnType<typeof createOutboundMetrics>;
