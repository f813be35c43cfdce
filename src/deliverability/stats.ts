import type { Db } from '../db/prisma';
import { MessageStatus } from '../generated/prisma/enums';
import { ValidationError } from '../lib/errors';
import { computeAndRecordLastSends, recordedOrComputedLastSends } from './last-sends';
import { fold, hourlyRows } from './stats-rollup';

/**
 * Deliverability numbers for `GET /api/stats` and the alerts: counts per status, hard-bounce and complaint
 * rates over the window and over the last 1,000 email sends, and latency percentiles; overall, per provider
 * and per recipient domain. Rates are fractions (0.02 = 2 %) of email messages a provider accepted; soft
 * bounces and provider-side suppressions do not count toward the bounce rate (as SES counts it).
 */

/** The busiest recipient domains shown; the long tail adds noise, not signal. */
const TOP_DOMAINS = 50;
const MAX_WINDOW_MS = 31 * 86_400_000;

export interface RateJson {
  sent: number;
  hard_bounces: number;
  complaints: number;
  bounce_rate: number | null;
  complaint_rate: number | null;
}

export interface LatencyJson {
  p50_ms: number | null;
  p95_ms: number | null;
}

export interface ScopeStatsJson {
  total: number;
  counts: Record<MessageStatus, number>;
  rates: { window: RateJson; last_1000_sends: RateJson };
  latency: { accepted_to_sent: LatencyJson; sent_to_delivered: LatencyJson };
}

export interface StatsJson extends ScopeStatsJson {
  window: string;
  since: string;
  until: string;
  providers: (ScopeStatsJson & { provider: string })[];
  recipient_domains: (ScopeStatsJson & { domain: string })[];
}

export function parseWindow(window: string): number {
  const match = /^(\d{1,4})(m|h|d)$/.exec(window);
  const ms = match ? Number(match[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'] : NaN;
  if (!(ms > 0) || ms > MAX_WINDOW_MS) throw new ValidationError('window: must look like 15m, 24h or 7d, at most 31d');
  return ms;
}

/** The window's hard bounces and complaints among email sends, overall ('all'), per provider and per domain. */
interface FlagRow {
  scope: 'all' | 'provider' | 'domain';
  key: string;
  hard_bounces: number;
  complaints: number;
}

function rate(sent: number, hardBounces: number, complaints: number): RateJson {
  return {
    sent,
    hard_bounces: hardBounces,
    complaints,
    bounce_rate: sent > 0 ? hardBounces / sent : null,
    complaint_rate: sent > 0 ? complaints / sent : null,
  };
}

const emptyCounts = (): Record<MessageStatus, number> =>
  Object.fromEntries(Object.values(MessageStatus).map((s) => [s, 0])) as Record<MessageStatus, number>;

export type Stats = ReturnType<typeof createStats>;

/**
 * The window's bounces and complaints, read by when they happened along an index of bounces and complaints
 * only: a timeline event is never earlier than its message's acceptance (provider times are floored at it,
 * provider-events.ts), so those of the window's messages are all since its start. A few per hundred sends.
 */
const windowFlags = (db: Db, since: Date, until: Date) => db.$queryRaw<FlagRow[]>`
  SELECT CASE WHEN GROUPING(m.provider) = 0 THEN 'provider' WHEN GROUPING(m.recipient_domain) = 0 THEN 'domain' ELSE 'all' END AS scope,
         coalesce(CASE WHEN GROUPING(m.provider) = 0 THEN m.provider ELSE m.recipient_domain END, '') AS key,
         count(*) FILTER (WHERE f.hard_bounced)::int AS hard_bounces, count(*) FILTER (WHERE f.complained)::int AS complaints
  FROM (SELECT message_id, bool_or(type = 'bounced' AND detail->>'bounce_kind' = 'hard') AS hard_bounced, bool_or(type = 'complained') AS complained
        FROM message_events WHERE type IN ('bounced', 'complained') AND occurred_at >= ${since} GROUP BY message_id) f
  JOIN messages m ON m.id = f.message_id
  WHERE m.created_at >= ${since} AND m.created_at < ${until} AND m.channel = 'email' AND m.sent_at IS NOT NULL
  GROUP BY GROUPING SETS ((), (m.provider), (m.recipient_domain))`;

/**
 * Each scope ("all", "provider:<name>", "domain:<name>") with its counts, window rates and latency, from the
 * rollup's rows (stats-rollup.ts; a provider row counts toward "all" too) and the window's bounces.
 */
async function windowScopes(db: Db, since: Date, until: Date): Promise<Map<string, ScopeStatsJson>> {
  const [{ statuses, latency }, flags] = await Promise.all([hourlyRows(db, since, until), windowFlags(db, since, until)]);
  const scopes = new Map<string, ScopeStatsJson>();
  const scope = (key: string): ScopeStatsJson => {
    let s = scopes.get(key);
    if (!s) {
      s = {
        total: 0,
        counts: emptyCounts(),
        rates: { window: rate(0, 0, 0), last_1000_sends: rate(0, 0, 0) },
        latency: { accepted_to_sent: { p50_ms: null, p95_ms: null }, sent_to_delivered: { p50_ms: null, p95_ms: null } },
      };
      scopes.set(key, s);
    }
    return s;
  };
  const targets = (row: { scope: string; key: string }): string[] =>
    row.scope === 'provider' ? ['all', `provider:${row.key}`] : [`domain:${row.key}`];
  // Always there, if only with zeros.
  scope('all');
  for (const row of statuses) {
    for (const key of targets(row)) {
      const s = scope(key);
      s.counts[row.status] += row.messages;
      s.total += row.messages;
      s.rates.window.sent += row.email_sent;
    }
  }
  for (const row of latency) {
    const s = scopes.get(row.scope === 'all' ? 'all' : `${row.scope}:${row.key}`);
    if (s) s.latency[row.kind] = { p50_ms: row.p50, p95_ms: row.p95 };
  }
  for (const row of flags) {
    const s = scopes.get(row.scope === 'all' ? 'all' : `${row.scope}:${row.key}`);
    if (s) Object.assign(s.rates.window, { hard_bounces: row.hard_bounces, complaints: row.complaints });
  }
  // The fractions once the counts are in.
  for (const s of scopes.values()) s.rates.window = rate(s.rates.window.sent, s.rates.window.hard_bounces, s.rates.window.complaints);
  return scopes;
}

/**
 * Where the last-1,000-sends rates come from: `recorded` (the default, `GET /api/stats`) reports what the last
 * deliverability check recorded and computes only what it did not; `computeAndRecord` (that check, for the
 * alerts) computes them all and records them; `false` skips them (left at zero sends, null rates) for readers
 * that show only the window: the dashboard and /metrics read this on every page load and scrape.
 */
export type LastSendsSource = 'recorded' | 'computeAndRecord' | false;

async function compute(
  db: Db,
  now: () => Date,
  window = '24h',
  { lastSends: source = 'recorded' }: { lastSends?: LastSendsSource } = {},
): Promise<StatsJson> {
  const until = now();
  const since = new Date(until.getTime() - parseWindow(window));

  const scopes = await windowScopes(db, since, until);
  const all = scopes.get('all')!;
  // The named scopes under a prefix (a message without a provider or domain has none), busiest first.
  const named = (prefix: string) =>
    [...scopes.entries()]
      .filter(([k]) => k.startsWith(prefix) && k !== prefix)
      .map(([k, s]) => [k.slice(prefix.length), s] as const)
      .sort(([, a], [, b]) => b.total - a.total);
  const providerScopes = named('provider:');
  const domainScopes = named('domain:').slice(0, TOP_DOMAINS);
  const wanted = { all: true, providers: providerScopes.map(([name]) => name), domains: domainScopes.map(([name]) => name) };
  const lastSends =
    source === false
      ? []
      : await (source === 'computeAndRecord' ? computeAndRecordLastSends : recordedOrComputedLastSends)(db, until, wanted);
  for (const row of lastSends) {
    // Only scopes with traffic in the window are listed; their last 1,000 sends may reach further back.
    const s = row.scope === 'all' ? all : scopes.get(`${row.scope}:${row.key ?? ''}`);
    if (s) s.rates.last_1000_sends = rate(row.sent, row.hard_bounces, row.complaints);
  }
  const providers = providerScopes.map(([provider, s]) => ({ provider, ...s }));
  const domains = domainScopes.map(([domain, s]) => ({ domain, ...s }));

  return {
    window,
    since: since.toISOString(),
    until: until.toISOString(),
    ...all,
    providers,
    recipient_domains: domains,
  };
}

export function createStats({ db, now = () => new Date() }: { db: Db; now?: () => Date }) {
  return {
    compute: (window = '24h', options: { lastSends?: LastSendsSource } = {}): Promise<StatsJson> => compute(db, now, window, options),
    /** Brings the hourly rollup up to date (the maintenance job, every minute). */
    fold: () => fold(db),
  };
}
