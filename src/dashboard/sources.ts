import type { Config } from '../config/env';
import { alertThresholds, type AlertThresholds } from '../deliverability/alerts';
import type { RateJson, Stats } from '../deliverability/stats';
import type { SuppressionJson, SuppressionService } from '../deliverability/suppressions';
import type { ProviderState } from '../providers/provider-health';

/** What the dashboard and metrics read from deliverability (suppressions, rates) and providers (circuit states). */

export type SuppressionEntry = SuppressionJson;

export type SuppressionStore = Pick<SuppressionService, 'active' | 'list' | 'suppress' | 'release'>;

export interface RateRow {
  /** A provider name or a recipient domain. */
  key: string;
  sent: number;
  bounced: number;
  complained: number;
  bounce_rate: number;
  complaint_rate: number;
}

export interface Thresholds extends AlertThresholds {
  /** Below this many sends a rate is not judged, as the alerts do not judge it (ALERT_MIN_SENDS). */
  minSends: number;
}

export interface DeliverabilityRates {
  window_hours: number;
  thresholds: Thresholds;
  overall: Omit<RateRow, 'key'>;
  providers: RateRow[];
  domains: RateRow[];
}

export interface StatsSource {
  rates(windowHours: number): Promise<DeliverabilityRates>;
}

/** Each provider as the health gate (shared in Redis) sees it: circuit, failures in a row, pause, learned rate. */
export type { ProviderState };

const rate = (value: number | null): number => value ?? 0;

function toRateRow(key: string, r: RateJson): RateRow {
  return {
    key,
    sent: r.sent,
    bounced: r.hard_bounces,
    complained: r.complaints,
    bounce_rate: rate(r.bounce_rate),
    complaint_rate: rate(r.complaint_rate),
  };
}

/** The deliverability stats (src/deliverability/stats.ts) in the shape the overview and the rate gauges read. */
export function createDeliverabilityRates(
  stats: Pick<Stats, 'compute'>,
  config: Pick<
    Config,
    | 'ALERT_BOUNCE_WARN_PERCENT'
    | 'ALERT_BOUNCE_PAGE_PERCENT'
    | 'ALERT_COMPLAINT_WARN_PERCENT'
    | 'ALERT_COMPLAINT_PAGE_PERCENT'
    | 'ALERT_MIN_SENDS'
  >,
): StatsSource {
  const thresholds: Thresholds = { ...alertThresholds(config), minSends: config.ALERT_MIN_SENDS };
  return {
    async rates(windowHours) {
      const s = await stats.compute(`${windowHours}h`, { lastSends: false });
      const { key: _key, ...overall } = toRateRow('all', s.rates.window);
      return {
        window_hours: windowHours,
        thresholds,
        overall,
        providers: s.providers.map((p) => toRateRow(p.provider, p.rates.window)),
        domains: s.recipient_domains.map((d) => toRateRow(d.domain, d.rates.window)).slice(0, 20),
      };
    },
  };
}
