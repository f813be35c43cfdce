import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { Logger } from '../lib/logger';
import type { RateJson, ScopeStatsJson, Stats } from './stats';

/**
 * Bounce and complaint rate alerts, overall, per provider and per recipient domain. Each (metric, scope) has a
 * level (ok, warn, page) kept in `alert_states`; ALERT_WEBHOOK_URL (Slack-compatible `{text}`) hears only of
 * level changes, so a crossing is reported once and its recovery once, and all the changes one evaluation
 * finds go out as one post (one incident often crosses overall, on its provider and at a domain at once). A
 * level falls back only once the rate is clearly under its threshold (10 % margin), so a rate hovering at a
 * threshold does not flap. An open alert whose scope has no sends left in the window (a provider taken out
 * of the chain) is closed, and said so, rather than left open for good.
 */

export type AlertLevel = 'ok' | 'warn' | 'page';
type Metric = 'bounce' | 'complaint';

const RANK: Record<AlertLevel, number> = { ok: 0, warn: 1, page: 2 };
const RECOVERY_MARGIN = 0.9;
const POST_TIMEOUT_MS = 5_000;

export interface AlertChange {
  key: string;
  from: AlertLevel;
  to: AlertLevel;
  value: number;
  text: string;
  posted: boolean;
}

/** An alert as the outbound `alert.raised` / `alert.resolved` events carry it. */
export interface AlertEvent {
  key: string;
  level: AlertLevel;
  previous_level: AlertLevel;
  /** The rate that moved it (a fraction of sends); null for an alert that is not a rate. */
  value: number | null;
  text: string;
  at: string;
}

export interface AlertsDeps {
  db: Db;
  stats: Pick<Stats, 'compute'>;
  config: Pick<
    Config,
    | 'ALERT_WEBHOOK_URL'
    | 'ALERT_BOUNCE_WARN_PERCENT'
    | 'ALERT_BOUNCE_PAGE_PERCENT'
    | 'ALERT_COMPLAINT_WARN_PERCENT'
    | 'ALERT_COMPLAINT_PAGE_PERCENT'
    | 'ALERT_MIN_SENDS'
  >;
  log: Logger;
  /** Told of each level change once it is recorded, and of each one-off alert: the outbound events. */
  onAlert?: (alert: AlertEvent) => Promise<void>;
}

export type Alerts = ReturnType<typeof createAlerts>;

type ThresholdConfig = Pick<
  Config,
  'ALERT_BOUNCE_WARN_PERCENT' | 'ALERT_BOUNCE_PAGE_PERCENT' | 'ALERT_COMPLAINT_WARN_PERCENT' | 'ALERT_COMPLAINT_PAGE_PERCENT'
>;

export type AlertThresholds = Record<Metric, Record<Exclude<AlertLevel, 'ok'>, number>>;

/** The ALERT_* percentages as fractions of sends, as the stats report rates. */
export const alertThresholds = (config: ThresholdConfig): AlertThresholds => ({
  bounce: { warn: config.ALERT_BOUNCE_WARN_PERCENT / 100, page: config.ALERT_BOUNCE_PAGE_PERCENT / 100 },
  complaint: { warn: config.ALERT_COMPLAINT_WARN_PERCENT / 100, page: config.ALERT_COMPLAINT_PAGE_PERCENT / 100 },
});

/** A rate's level against its thresholds, before the alerts' recovery margin. */
export const rateLevel = (value: number, t: AlertThresholds[Metric]): AlertLevel =>
  value >= t.page ? 'page' : value >= t.warn ? 'warn' : 'ok';

const rateOf = (metric: Metric, r: RateJson): number => (metric === 'bounce' ? r.bounce_rate : r.complaint_rate) ?? 0;

const pct = (fraction: number): string => `${(fraction * 100).toFixed(fraction < 0.01 ? 3 : 2).replace(/\.?0+$/, '')}%`;

/** Posts to ALERT_WEBHOOK_URL (Slack's `{text}`); true when it took it, or when none is set. */
async function postAlert(config: AlertsDeps['config'], log: Logger, text: string): Promise<boolean> {
  if (!config.ALERT_WEBHOOK_URL) return true;
  try {
    const res = await fetch(config.ALERT_WEBHOOK_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
    if (res.ok) return true;
    log.warn({ status: res.status }, 'alert webhook refused the alert; will retry at the next evaluation');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'alert webhook unreachable; will retry at the next evaluation');
  }
  return false;
}

/** The worse of the window and last-1,000-sends rates that have enough sends to mean anything. */
function worstRate(minSends: number, metric: Metric, rates: ScopeStatsJson['rates']): number | null {
  const eligible = [rates.window, rates.last_1000_sends].filter((r) => r.sent >= minSends);
  return eligible.length === 0 ? null : Math.max(...eligible.map((r) => rateOf(metric, r)));
}

/** A rate's level, kept at the current one until the rate is clearly (RECOVERY_MARGIN) under it. */
function levelFor(thresholds: AlertThresholds, metric: Metric, value: number, current: AlertLevel): AlertLevel {
  const t = thresholds[metric];
  const raw = rateLevel(value, t);
  if (RANK[raw] < RANK[current] && current !== 'ok' && value >= t[current] * RECOVERY_MARGIN) return current;
  return raw;
}

function alertText(
  thresholds: AlertThresholds,
  metric: Metric,
  scopeName: string,
  from: AlertLevel,
  to: AlertLevel,
  rates: ScopeStatsJson['rates'],
  window: string,
): string {
  const name = `${metric} rate`;
  const of = (r: RateJson) => pct(rateOf(metric, r));
  const figures = `last ${window}: ${of(rates.window)} of ${rates.window.sent} sends; last ${rates.last_1000_sends.sent} sends: ${of(rates.last_1000_sends)}`;
  if (to === 'ok') {
    return `:white_check_mark: auth-relay: ${name} ${scopeName} recovered (below ${pct(thresholds[metric].warn)}). ${figures}.`;
  }
  const icon = to === 'page' ? ':rotating_light:' : ':warning:';
  const verb = RANK[to] > RANK[from] ? 'crossed' : 'fell back under the page level but is still above';
  return `${icon} auth-relay ${to.toUpperCase()}: ${name} ${scopeName} ${verb} ${pct(thresholds[metric][to])}. ${figures}.`;
}

export function createAlerts({ db, stats, config, log, onAlert }: AlertsDeps) {
  const thresholds = alertThresholds(config);

  /** Computes the rates and reports every level change in one post; run periodically by the maintenance worker. */
  async function evaluate(window = '24h'): Promise<AlertChange[]> {
    const current = await stats.compute(window, { lastSends: 'computeAndRecord' });
    const scopes: { key: string; name: string; rates: ScopeStatsJson['rates'] }[] = [
      { key: 'all', name: 'overall', rates: current.rates },
      ...current.providers.map((p) => ({ key: `provider:${p.provider}`, name: `on ${p.provider}`, rates: p.rates })),
      ...current.recipient_domains.map((d) => ({ key: `domain:${d.domain}`, name: `to ${d.domain}`, rates: d.rates })),
    ];
    const states = new Map((await db.alertState.findMany()).map((s) => [s.key, s.level as AlertLevel]));
    const changes: Omit<AlertChange, 'posted'>[] = [];
    const measuredKeys = new Set<string>();
    for (const scope of scopes) {
      for (const metric of ['bounce', 'complaint'] as const) {
        const key = `${metric}:${scope.key}`;
        measuredKeys.add(key);
        const value = worstRate(config.ALERT_MIN_SENDS, metric, scope.rates);
        // Too few sends to judge: keep whatever was last reported.
        if (value === null) continue;
        const from = states.get(key) ?? 'ok';
        const to = levelFor(thresholds, metric, value, from);
        if (to === from) continue;
        changes.push({ key, from, to, value, text: alertText(thresholds, metric, scope.name, from, to, scope.rates, window) });
      }
    }
    for (const [key, from] of states) {
      if (from === 'ok' || measuredKeys.has(key)) continue;
      const [metric, ...scopeParts] = key.split(':');
      const scope = scopeParts
        .join(':')
        .replace(/^provider:/, 'on ')
        .replace(/^domain:/, 'to ');
      changes.push({
        key,
        from,
        to: 'ok',
        value: 0,
        text: `:white_check_mark: auth-relay: ${metric} rate ${scope}: no sends in the last ${window}; alert closed.`,
      });
    }
    if (changes.length === 0) return [];

    const posted = await postAlert(config, log, changes.map((c) => c.text).join('\n'));
    if (posted) {
      await db.$transaction(
        changes.map(({ key, to, value }) =>
          db.alertState.upsert({ where: { key }, create: { key, level: to, value }, update: { level: to, value, changedAt: new Date() } }),
        ),
      );
      const at = new Date().toISOString();
      for (const c of changes) await onAlert?.({ key: c.key, level: c.to, previous_level: c.from, value: c.value, text: c.text, at });
    }
    for (const c of changes) {
      log[c.to === 'ok' ? 'info' : 'warn']({ alert: c.key, from: c.from, to: c.to, value: c.value, posted }, 'deliverability alert');
    }
    return changes.map((c) => ({ ...c, posted }));
  }

  /**
   * A one-off alert that is not a rate (an outbound webhook endpoint disabled): posted to ALERT_WEBHOOK_URL
   * once, logged, and published; nothing is kept, so there is no recovery to report.
   */
  async function raise(alert: { key: string; text: string }): Promise<void> {
    const posted = await postAlert(config, log, alert.text);
    log.warn({ alert: alert.key, posted }, 'alert raised');
    await onAlert?.({ key: alert.key, level: 'warn', previous_level: 'ok', value: null, text: alert.text, at: new Date().toISOString() });
  }

  return { evaluate, raise };
}
