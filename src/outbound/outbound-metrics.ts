import type { Registry } from 'prom-client';
import { instrumentsOn } from '../metrics/instruments';
import type { AttemptOutcome } from './sender';

/** Calls to tenant endpoints, by endpoint id and outcome, on the process's registry (src/metrics/metrics.ts). */
export function createOutboundMetrics(registry: Registry) {
  const { counter, histogram } = instrumentsOn(registry);
  const attempts = counter(
    'auth_relay_outbound_webhook_attempts_total',
    'Calls to outbound webhook endpoints, by endpoint id and outcome (succeeded, http_error, timeout, network_error, refused)',
    ['endpoint', 'outcome'],
  );
  const seconds = histogram(
    'auth_relay_outbound_webhook_duration_seconds',
    'How long outbound webhook endpoints took to answer, by endpoint id',
    ['endpoint'],
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
  );
  return {
    attempt(endpoint: string, outcome: AttemptOutcome, latencyMs: number): void {
      attempts.inc({ endpoint, outcome });
      if (outcome !== 'refused') seconds.observe({ endpoint }, latencyMs / 1000);
    },
  };
}

export type OutboundMetrics = ReturnType<typeof createOutboundMetrics>;
