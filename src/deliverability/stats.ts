import type { Db } from '../db/prisma';
import { MessageStatus } from '../generated/prisma/enums';
import { ValidationError } from '../lib/errors';

/**
 * Deliverability numbers for `GET /api/stats` and the alerts: counts per status, hard-bounce and complaint
 * rates over the window and over the last 1,000 email sends, and latency percentiles; overall, per provider
 * and per recipient domain. Rates are fractions (0.02 = 2 %) of email messages a provider accepted; soft
 * bounces and provider-side suppressions do not count toward the bounce rate (as SES counts it).
 */

export const LAST_SENDS = 1_000;
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

interface CountRow {
  provider: string | null;
  recipient_domain: string | null;
  g_provider: number;
  g_domain: number;
  status: MessageStatus;
  n: number;
}

interface AggregateRow {
  provider: string | null;
  recipient_domain: string | null;
  g_provider: number;
  g_domain: number;
  sent: number;
  hard_bounces: number;
  complaints: number;
  sent_p50: number | null;
  sent_p95: number | null;
  delivered_p50: number | null;
  delivered_p95: number | null;
}

interface LastSendsRow {
  scope: 'all' | 'provider' | 'domain';
  key: string | null;
  sent: number;
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

const ms = (v: number | null): number | null => (v === null ? null : Math.round(Number(v)));

export type Stats = ReturnType<typeof createStats>;

/**
 * The rates over the last 1,000 email sends overall, per provider and per listed domain. Each scope reads
 * its newest email sends backwards along an index of email sends only ((provider|recipient_domain, sent_at)) and
 * stops at 1,000; "all" is the newest 1,000 of every email provider's own (every send has a provider), the
 * providers found by skipping along that index. Each message is then looked up once in the index of bounces
 * and complaints. So the cost is bounded by the number of scopes, not by how many messages the retention keeps.
 * JIT is off: the planner overestimates the lookups and would spend more compiling than executing.
 */
async function lastSendsRates(db: Db, until: Date, providers: string[], domains: string[]): Promise<LastSendsRow[]> {
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SET LOCAL jit = off`;
      return tx.$queryRaw<LastSendsRow[]>`
        WITH RECURSIVE email_providers AS (
          SELECT min(provider) AS p FROM messages WHERE channel = 'email' AND sent_at IS NOT NULL
          UNION ALL
          SELECT (SELECT min(m.provider) FROM messages m WHERE m.channel = 'email' AND m.sent_at IS NOT NULL AND m.provider > ep.p)
          FROM email_providers ep WHERE ep.p IS NOT NULL
        ),
        by_provider AS (
          SELECT ep.p AS key, l.id, l.sent_at FROM email_providers ep CROSS JOIN LATERAL (
            SELECT m.id, m.sent_at FROM messages m
            WHERE m.provider = ep.p AND m.channel = 'email' AND m.sent_at IS NOT NULL AND m.sent_at < ${until}
            ORDER BY m.sent_at DESC LIMIT ${LAST_SENDS}
          ) l
          WHERE ep.p IS NOT NULL
        ),
        last AS (
          SELECT 'all' AS scope, NULL::text AS key, a.id FROM (SELECT id FROM by_provider ORDER BY sent_at DESC LIMIT ${LAST_SENDS}) a
          UNION ALL
          SELECT 'provider', key, id FROM by_provider WHERE key = ANY(${providers}::text[])
          UNION ALL
          SELECT 'domain', k, l.id FROM unnest(${domains}::text[]) k CROSS JOIN LATERAL (
            SELECT m.id FROM messages m
            WHERE m.recipient_domain = k AND m.channel = 'email' AND m.sent_at IS NOT NULL AND m.sent_at < ${until}
            ORDER BY m.sent_at DESC LIMIT ${LAST_SENDS}
          ) l
        ),
        flagged AS (
          SELECT d.id, f.hard, f.complained FROM (SELECT DISTINCT id FROM last) d CROSS JOIN LATERAL (
            SELECT coalesce(bool_or(e.type = 'bounced' AND e.detail->>'bounce_kind' = 'hard'), false) AS hard,
                   coalesce(bool_or(e.type = 'complained'), false) AS complained
            FROM message_events e WHERE e.message_id = d.id AND e.type IN ('bounced', 'complained')
          ) f
        )
        SELECT scope, key, count(*)::int AS sent,
               count(*) FILTER (WHERE f.hard)::int AS hard_bounces,
               count(*) FILTER (WHERE f.complained)::int AS complaints
        FROM last JOIN flagged f USING (id)
        GROUP BY scope, key`;
    },
    // Bounded work, but on a busy shared database it may take longer than the 5 s interactive default.
    { timeout: 30_000 },
  );
}

/** Counts per status, and rates and latency percentiles, of the messages accepted in [since, until): overall, per provider and per domain. */
function windowRows(db: Db, since: Date, until: Date): Promise<[CountRow[], AggregateRow[]]> {
  return Promise.all([
    db.$queryRaw<CountRow[]>`
      SELECT provider, recipient_domain, GROUPING(provider)::int AS g_provider, GROUPING(recipient_domain)::int AS g_domain,
             status, count(*)::int AS n
      FROM messages
      WHERE created_at >= ${since} AND created_at < ${until}
      GROUP BY GROUPING SETS ((status), (provider, status), (recipient_domain, status))`,
    db.$queryRaw<AggregateRow[]>`
      WITH flags AS (
        -- A timeline event is never earlier than its message's acceptance (provider times are floored at it,
        -- provider-events.ts), so the bounces and complaints of the window's messages are all since its start.
        SELECT message_id, bool_or(type = 'bounced' AND detail->>'bounce_kind' = 'hard') AS hard_bounced, bool_or(type = 'complained') AS complained
        FROM message_events
        WHERE type IN ('bounced', 'complained') AND occurred_at >= ${since}
        GROUP BY message_id
      ),
      w AS (
        SELECT m.provider, m.recipient_domain, m.created_at, m.sent_at, m.delivered_at,
               (m.channel = 'email' AND m.sent_at IS NOT NULL) AS email_sent,
               coalesce(f.hard_bounced, false) AS hard_bounced, coalesce(f.complained, false) AS complained
        FROM messages m LEFT JOIN flags f ON f.message_id = m.id
        WHERE m.created_at >= ${since} AND m.created_at < ${until}
      )
      SELECT provider, recipient_domain, GROUPING(provider)::int AS g_provider, GROUPING(recipient_domain)::int AS g_domain,
             count(*) FILTER (WHERE email_sent)::int AS sent,
             count(*) FILTER (WHERE email_sent AND hard_bounced)::int AS hard_bounces,
             count(*) FILTER (WHERE email_sent AND complained)::int AS complaints,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(extract(epoch FROM sent_at - created_at), 0) * 1000) AS sent_p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY greatest(extract(epoch FROM sent_at - created_at), 0) * 1000) AS sent_p95,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(extract(epoch FROM delivered_at - sent_at), 0) * 1000) AS delivered_p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY greatest(extract(epoch FROM delivered_at - sent_at), 0) * 1000) AS delivered_p95
      FROM w
      GROUP BY GROUPING SETS ((), (provider), (recipient_domain))`,
  ]);
}

/** Each scope ("all", "provider:<name>", "domain:<name>") with its counts, window rates and latency. */
function scopesFrom(counts: CountRow[], aggregates: AggregateRow[]): Map<string, ScopeStatsJson> {
  const scopeKey = (g_provider: number, g_domain: number, provider: string | null, domain: string | null): string =>
    g_provider === 0 ? `provider:${provider ?? ''}` : g_domain === 0 ? `domain:${domain ?? ''}` : 'all';

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
  // Always there, if only with zeros.
  scope('all');
  for (const row of counts) {
    const s = scope(scopeKey(row.g_provider, row.g_domain, row.provider, row.recipient_domain));
    s.counts[row.status] = row.n;
    s.total += row.n;
  }
  for (const row of aggregates) {
    const s = scope(scopeKey(row.g_provider, row.g_domain, row.provider, row.recipient_domain));
    s.rates.window = rate(row.sent, row.hard_bounces, row.complaints);
    s.latency = {
      accepted_to_sent: { p50_ms: ms(row.sent_p50), p95_ms: ms(row.sent_p95) },
      sent_to_delivered: { p50_ms: ms(row.delivered_p50), p95_ms: ms(row.delivered_p95) },
    };
  }
  return scopes;
}

/**
 * `lastSends: false` skips the last-1,000-sends rates (left at zero sends, null rates) for readers that show
 * only the window: the dashboard and /metrics read this on every page load and scrape.
 */
async function compute(
  db: Db,
  now: () => Date,
  window = '24h',
  { lastSends: withLastSends = true }: { lastSends?: boolean } = {},
): Promise<StatsJson> {
  const until = now();
  const since = new Date(until.getTime() - parseWindow(window));

  const [counts, aggregates] = await windowRows(db, since, until);
  const scopes = scopesFrom(counts, aggregates);
  const all = scopes.get('all')!;
  // The named scopes under a prefix (a message without a provider or domain has none), busiest first.
  const named = (prefix: string) =>
    [...scopes.entries()]
      .filter(([k]) => k.startsWith(prefix) && k !== prefix)
      .map(([k, s]) => [k.slice(prefix.length), s] as const)
      .sort(([, a], [, b]) => b.total - a.total);
  const providerScopes = named('provider:');
  const domainScopes = named('domain:').slice(0, TOP_DOMAINS);
  const lastSends = withLastSends
    ? await lastSendsRates(
        db,
        until,
        providerScopes.map(([name]) => name),
        domainScopes.map(([name]) => name),
      )
    : [];
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
    compute: (window = '24h', options: { lastSends?: boolean } = {}): Promise<StatsJson> => compute(db, now, window, options),
  };
}
