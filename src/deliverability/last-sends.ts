import type { Db } from '../db/prisma';

/**
 * The hard-bounce and complaint counts of the last 1,000 email sends, overall, per provider and per recipient
 * domain. Walking them costs up to 1,000 index entries and as many bounce lookups per scope (50 domains: about
 * 150,000 pages at a million messages), so they are computed once a minute by the deliverability check, which
 * judges them for the alerts, and recorded in `last_sends_rates`; `GET /api/stats` reports those (at most
 * RECORDED_FRESH_MS old) and computes only the scopes the check did not cover.
 */

export const LAST_SENDS = 1_000;
/** A recording older than this (no worker is running the deliverability check) is not used. */
export const RECORDED_FRESH_MS = 5 * 60_000;

export type LastSendsScope = 'all' | 'provider' | 'domain';

export interface LastSendsRow {
  scope: LastSendsScope;
  /** The provider or domain; null for 'all'. */
  key: string | null;
  sent: number;
  hard_bounces: number;
  complaints: number;
}

/** Which scopes to compute: 'all' or not, and the named providers and domains. */
export interface LastSendsScopes {
  all: boolean;
  providers: string[];
  domains: string[];
}

/**
 * Each scope reads its newest email sends backwards along an index of email sends only
 * ((provider|recipient_domain, sent_at)) and stops at 1,000; "all" is the newest 1,000 of every email
 * provider's own (every send has a provider), the providers found by skipping along that index. Each message
 * is then looked up once in the index of bounces and complaints. So the cost is bounded by the number of
 * scopes, not by how many messages the retention keeps. A scope without email sends has no row.
 * JIT is off: the planner overestimates the lookups and would spend more compiling than executing.
 */
export async function computeLastSends(db: Db, until: Date, scopes: LastSendsScopes): Promise<LastSendsRow[]> {
  const byProvider = scopes.all || scopes.providers.length > 0;
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SET LOCAL jit = off`;
      return tx.$queryRaw<LastSendsRow[]>`
        WITH RECURSIVE email_providers AS (
          SELECT min(provider) AS p FROM messages WHERE ${byProvider} AND channel = 'email' AND sent_at IS NOT NULL
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
          WHERE ${scopes.all}
          UNION ALL
          SELECT 'provider', key, id FROM by_provider WHERE key = ANY(${scopes.providers}::text[])
          UNION ALL
          SELECT 'domain', k, l.id FROM unnest(${scopes.domains}::text[]) k CROSS JOIN LATERAL (
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

const keyOf = (scope: LastSendsScope, key: string | null): string => `${scope}:${key ?? ''}`;

/** Every scope asked for, with zeros where it had no email sends, so a recording says "none" rather than "not computed". */
function withZeros(rows: LastSendsRow[], scopes: LastSendsScopes): LastSendsRow[] {
  const found = new Map(rows.map((r) => [keyOf(r.scope, r.key), r]));
  const asked: [LastSendsScope, string | null][] = [
    ...(scopes.all ? [['all', null] as [LastSendsScope, null]] : []),
    ...scopes.providers.map((p): [LastSendsScope, string] => ['provider', p]),
    ...scopes.domains.map((d): [LastSendsScope, string] => ['domain', d]),
  ];
  return asked.map(([scope, key]) => found.get(keyOf(scope, key)) ?? { scope, key, sent: 0, hard_bounces: 0, complaints: 0 });
}

/**
 * Computes every scope and records them, replacing what an earlier check recorded for the same scopes. Two
 * checks at once (two worker processes) both write a row per scope: whichever commits last wins, and both are fresh.
 */
export async function computeAndRecordLastSends(db: Db, until: Date, scopes: LastSendsScopes): Promise<LastSendsRow[]> {
  const rows = withZeros(await computeLastSends(db, until, scopes), scopes);
  await db.$executeRaw`
    INSERT INTO last_sends_rates (scope, key, sent, hard_bounces, complaints, computed_at)
    SELECT r.scope, r.key, r.sent, r.hard_bounces, r.complaints, ${until}
    FROM jsonb_to_recordset(${JSON.stringify(rows.map((r) => ({ ...r, key: r.key ?? '' })))}::jsonb)
         AS r(scope text, key text, sent int, hard_bounces int, complaints int)
    ON CONFLICT (scope, key) DO UPDATE
      SET sent = excluded.sent, hard_bounces = excluded.hard_bounces, complaints = excluded.complaints, computed_at = excluded.computed_at
      WHERE last_sends_rates.computed_at <= excluded.computed_at`;
  // Scopes no check has listed for a day (a domain gone quiet) are dropped, so the table stays the size of the lists.
  await db.$executeRaw`DELETE FROM last_sends_rates WHERE computed_at < ${new Date(until.getTime() - 86_400_000)}`;
  return rows;
}

/**
 * The scopes' rates: the recorded ones where a check recorded them within RECORDED_FRESH_MS of `until`, and
 * the others computed now (all of them when no worker runs the check).
 */
export async function recordedOrComputedLastSends(db: Db, until: Date, scopes: LastSendsScopes): Promise<LastSendsRow[]> {
  const recorded = await db.$queryRaw<LastSendsRow[]>`
    SELECT scope, nullif(key, '') AS key, sent, hard_bounces, complaints FROM last_sends_rates
    WHERE computed_at >= ${new Date(until.getTime() - RECORDED_FRESH_MS)} AND computed_at <= ${until}`;
  const have = new Set(recorded.map((r) => keyOf(r.scope, r.key)));
  const missing: LastSendsScopes = {
    all: scopes.all && !have.has(keyOf('all', null)),
    providers: scopes.providers.filter((p) => !have.has(keyOf('provider', p))),
    domains: scopes.domains.filter((d) => !have.has(keyOf('domain', d))),
  };
  if (!missing.all && missing.providers.length === 0 && missing.domains.length === 0) return recorded;
  return [...recorded, ...(await computeLastSends(db, until, missing))];
}
