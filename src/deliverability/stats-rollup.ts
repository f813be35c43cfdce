import { Prisma, type Db } from '../db/prisma';
import type { MessageStatus } from '../generated/prisma/enums';

/**
 * Hourly rollups of the messages, by the hour each was accepted (`message_stats_hourly`,
 * `message_latency_hourly`), so /api/stats and the dashboard add up a few rows per hour instead of reading every
 * message of their window. `fold` recomputes every hour holding a message changed (updated_at) since the last
 * fold, whole, in one transaction: running it twice changes nothing, and two at once take turns on an advisory
 * lock. A read (`hourlyRows`) takes the window's whole hours from the rollup and reads from messages only its
 * partial first and last hours and any hour changed since the last fold, so it is exact right after a change
 * and its cost follows the traffic of an hour or two, not the size of the log.
 *
 * Bounces and complaints are not rolled up: an event can be recorded without touching its message (a second
 * report), so a rollup could not tell the hour changed; the window's are few and read live by time
 * (stats.ts). Latency is kept as a histogram of milliseconds floored to two significant digits (1,234 ms
 * counts as 1,200): percentiles merge across hours that way, to within 10 %. The histograms are also kept
 * summed per UTC day (`message_latency_daily`), which a read of whole days takes instead of their hours.
 */

const ROLLUP = 'message_stats_hourly';
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/**
 * How late a change may commit after the time it records (a slow transaction, a writer's clock behind the
 * database's): changes are read from this much before the last fold's start, so none is missed.
 */
export const FOLD_OVERLAP_MS = 5 * 60_000;
const FOLD_HOURS_PER_STATEMENT = 24;
/** The longest window a read asks for (stats.ts MAX_WINDOW_MS) and a day: older rollup hours are dropped. */
const KEPT_MS = 32 * 86_400_000;

export type Scope = 'provider' | 'domain';
export type LatencyKind = 'accepted_to_sent' | 'sent_to_delivered';

export interface StatusRow {
  scope: Scope;
  /** The provider or domain; '' for a message without a provider. */
  key: string;
  status: MessageStatus;
  messages: number;
  email_sent: number;
}

/** A scope's latency percentiles. */
export interface PercentileRow {
  scope: Scope | 'all';
  key: string;
  kind: LatencyKind;
  p50: number;
  p95: number;
}

interface Range {
  from: Date;
  to: Date;
}

/**
 * Messages accepted in any of the ranges, as one bound condition per range: the planner estimates each from
 * the statistics and reads each along the created_at index (a join with an array of ranges it estimates
 * blind, and reads the whole table).
 */
const inRanges = (ranges: Range[]) =>
  ranges.length === 0
    ? Prisma.sql`false`
    : Prisma.join(
        ranges.map((r) => Prisma.sql`(m.created_at >= ${r.from} AND m.created_at < ${r.to})`),
        ' OR ',
      );

/**
 * Per acceptance hour, per provider and per domain (a message without one has no domain row); latency also over
 * all messages ('all'), counts only per provider (stats.ts sums those for 'all').
 */
const scopeColumns = Prisma.sql`
  CASE WHEN GROUPING(provider) = 0 THEN 'provider' WHEN GROUPING(recipient_domain) = 0 THEN 'domain' ELSE 'all' END AS scope,
  coalesce(CASE WHEN GROUPING(provider) = 0 THEN provider ELSE recipient_domain END, '') AS key`;
const notNoDomain = Prisma.sql`HAVING GROUPING(recipient_domain) = 1 OR recipient_domain IS NOT NULL`;

const statusRowsOver = (ranges: Range[]) => Prisma.sql`
  SELECT hour, ${scopeColumns}, status, count(*)::int AS messages, count(*) FILTER (WHERE email_sent)::int AS email_sent
  FROM (SELECT date_trunc('hour', m.created_at) AS hour, m.provider, m.recipient_domain, m.status,
               m.channel = 'email' AND m.sent_at IS NOT NULL AS email_sent
        FROM messages m WHERE ${inRanges(ranges)}) x
  GROUP BY GROUPING SETS ((hour, provider, status), (hour, recipient_domain, status))
  ${notNoDomain}`;

const latencyRowsOver = (ranges: Range[]) => Prisma.sql`
  SELECT hour, ${scopeColumns}, kind, bucket_ms, count(*)::int AS messages
  FROM (SELECT date_trunc('hour', m.created_at) AS hour, m.provider, m.recipient_domain, l.kind,
               l.ms / l.unit * l.unit AS bucket_ms
        FROM messages m
        CROSS JOIN LATERAL (VALUES ('accepted_to_sent', m.sent_at - m.created_at), ('sent_to_delivered', m.delivered_at - m.sent_at)) AS d(kind, span)
        -- No span (not sent, not delivered) makes a bucket of its own, NULL: the fold leaves it out, a read ignores it.
        CROSS JOIN LATERAL (SELECT CASE WHEN d.span IS NOT NULL THEN greatest(round(extract(epoch FROM d.span) * 1000), 0)::bigint END AS ms) v
        CROSS JOIN LATERAL (SELECT d.kind, v.ms, (10 ^ greatest(length(v.ms::text) - 2, 0))::bigint AS unit) l
        WHERE ${inRanges(ranges)}) x
  GROUP BY GROUPING SETS ((hour, kind, bucket_ms), (hour, provider, kind, bucket_ms), (hour, recipient_domain, kind, bucket_ms))
  ${notNoDomain}`;

const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;
const dayOf = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
/** The UTC days the hours fall in, each once. */
const daysOf = (hours: Date[]): Date[] => [...new Set(hours.map((h) => dayOf(h.getTime())))].map((ms) => new Date(ms));
const hourRange = (hour: Date): Range => ({ from: hour, to: new Date(hour.getTime() + HOUR_MS) });

/**
 * Folds the changes since the last fold into the rollup: returns how many hours it recomputed. The first fold
 * rolls up the whole log (seconds at a million messages).
 */
export async function fold(db: Db): Promise<{ hours: number }> {
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${ROLLUP}))`;
      const [{ started }] = await tx.$queryRaw<{ started: Date }[]>`SELECT now() AS started`;
      const mark = await tx.rollupWatermark.findUnique({ where: { name: ROLLUP } });
      // The hours with a change (on the first fold, every hour from the oldest message on), and the oldest
      // hour, which the retention may have thinned since.
      const dirty = mark
        ? await tx.$queryRaw<{ hour: Date }[]>`
            SELECT DISTINCT date_trunc('hour', created_at) AS hour FROM messages
            WHERE updated_at >= ${new Date(mark.foldedUntil.getTime() - FOLD_OVERLAP_MS)}
            UNION
            SELECT date_trunc('hour', min(created_at)) FROM messages`
        : await tx.$queryRaw<{ hour: Date }[]>`
            SELECT generate_series(date_trunc('hour', min(created_at)), date_trunc('hour', max(created_at)), interval '1 hour') AS hour
            FROM messages`;
      const hours = dirty.filter((d) => d.hour !== null).map((d) => d.hour);
      const kept = new Date(started.getTime() - KEPT_MS);
      // Two statements each, so each reads its hours along the primary key (an OR of both reads the whole table).
      await tx.$executeRaw`DELETE FROM message_stats_hourly WHERE hour = ANY(${hours}::timestamptz[])`;
      await tx.$executeRaw`DELETE FROM message_stats_hourly WHERE hour < ${kept}`;
      await tx.$executeRaw`DELETE FROM message_latency_hourly WHERE hour = ANY(${hours}::timestamptz[])`;
      await tx.$executeRaw`DELETE FROM message_latency_hourly WHERE hour < ${kept}`;
      // A day of hours per statement, so the first fold of a large log stays within the statement timeout.
      for (let i = 0; i < hours.length; i += FOLD_HOURS_PER_STATEMENT) {
        const ranges = hours.slice(i, i + FOLD_HOURS_PER_STATEMENT).map(hourRange);
        await tx.$executeRaw`INSERT INTO message_stats_hourly (hour, scope, key, status, messages, email_sent) ${statusRowsOver(ranges)}`;
        await tx.$executeRaw`
          INSERT INTO message_latency_hourly (hour, scope, key, kind, bucket_ms, messages)
          SELECT * FROM (${latencyRowsOver(ranges)}) l WHERE bucket_ms IS NOT NULL`;
      }
      // Each day holding a recomputed hour, summed again from its hours: a day per statement, as above (all of a
      // first fold's 60 days in one statement outlasted the statement timeout on a slow host, every minute).
      const days = daysOf(hours);
      await tx.$executeRaw`DELETE FROM message_latency_daily WHERE day = ANY(${days}::timestamptz[])`;
      await tx.$executeRaw`DELETE FROM message_latency_daily WHERE day < ${new Date(dayOf(kept.getTime()))}`;
      for (const day of days) {
        await tx.$executeRaw`
          INSERT INTO message_latency_daily (day, scope, key, kind, bucket_ms, messages)
          SELECT ${day}::timestamptz, scope, key, kind, bucket_ms, sum(messages)::int
          FROM message_latency_hourly
          WHERE hour >= ${day}::timestamptz AND hour < ${day}::timestamptz + interval '24 hours'
          GROUP BY scope, key, kind, bucket_ms`;
      }
      await tx.rollupWatermark.upsert({
        where: { name: ROLLUP },
        create: { name: ROLLUP, foldedUntil: started },
        update: { foldedUntil: started },
      });
      return { hours: hours.length };
    },
    // The first fold reads the whole log; later ones an hour or two.
    { timeout: 300_000, maxWait: 60_000 },
  );
}

/** Where a read finds each part of its window. */
interface WindowSplit {
  /** Partial hours and hours changed since the last fold, read from messages. */
  live: Range[];
  /** The other whole hours, a condition on a rollup table's `hour`. */
  rolled: Prisma.Sql;
  /** For latency: the whole UTC days among them without a changed hour, a condition on the daily table's `day` … */
  rolledDays: Prisma.Sql;
  /** … and the rolled hours outside those days, a condition on the hourly table's `hour`. */
  rolledHoursOutsideDays: Prisma.Sql;
}

/**
 * How to read the messages accepted in [since, until): the whole hours the last fold left unchanged from the
 * rollup, the rest (partial hours, hours changed since) from messages. Without a fold yet, all live.
 */
async function split(db: Db, since: Date, until: Date): Promise<WindowSplit> {
  const firstWhole = new Date(hourOf(since.getTime() - 1) + HOUR_MS);
  const lastWhole = new Date(hourOf(until.getTime()));
  const mark = firstWhole < lastWhole ? await db.rollupWatermark.findUnique({ where: { name: ROLLUP } }) : null;
  if (!mark) {
    const none = Prisma.sql`false`;
    return { live: [{ from: since, to: until }], rolled: none, rolledDays: none, rolledHoursOutsideDays: none };
  }
  const changed = await db.$queryRaw<{ hour: Date }[]>`
    SELECT DISTINCT date_trunc('hour', created_at) AS hour FROM messages
    WHERE updated_at >= ${new Date(mark.foldedUntil.getTime() - FOLD_OVERLAP_MS)}
      AND created_at >= ${firstWhole} AND created_at < ${lastWhole}`;
  const changedHours = changed.map((c) => c.hour);
  const notChanged = Prisma.sql`hour <> ALL(${changedHours}::timestamptz[])`;
  // Whole days in [firstDay, lastDay); one holding a changed hour is read by the hour instead.
  const firstDay = new Date(Math.ceil(firstWhole.getTime() / DAY_MS) * DAY_MS);
  const lastDay = new Date(dayOf(lastWhole.getTime()));
  // Only the days read whole otherwise: a changed hour outside them is in an hour range already, and a whole
  // day's range around it would reach past the window's whole hours (into hours read live, or outside it).
  const changedDays = daysOf(changedHours).filter((d) => d >= firstDay && d < lastDay);
  const hourRanges: Range[] =
    firstDay < lastDay
      ? [
          { from: firstWhole, to: firstDay },
          { from: lastDay, to: lastWhole },
          ...changedDays.map((d) => ({ from: d, to: new Date(d.getTime() + DAY_MS) })),
        ]
      : [{ from: firstWhole, to: lastWhole }];
  // One bound condition per range, so each is read along the primary key (a filter would read the days too).
  const inHourRanges = Prisma.join(
    hourRanges.map((r) => Prisma.sql`(hour >= ${r.from} AND hour < ${r.to})`),
    ' OR ',
  );
  return {
    live: [
      ...(since < firstWhole ? [{ from: since, to: firstWhole }] : []),
      ...changedHours.map(hourRange),
      ...(lastWhole < until ? [{ from: lastWhole, to: until }] : []),
    ],
    rolled: Prisma.sql`hour >= ${firstWhole} AND hour < ${lastWhole} AND ${notChanged}`,
    rolledDays:
      firstDay < lastDay
        ? Prisma.sql`day >= ${firstDay} AND day < ${lastDay} AND day <> ALL(${changedDays}::timestamptz[])`
        : Prisma.sql`false`,
    rolledHoursOutsideDays: Prisma.sql`(${inHourRanges}) AND ${notChanged}`,
  };
}

/** How many messages accepted in [since, until) are in each status now, read as `hourlyRows` reads. */
export async function statusCounts(db: Db, since: Date, until: Date): Promise<{ status: MessageStatus; messages: number }[]> {
  const { live, rolled } = await split(db, since, until);
  return db.$queryRaw`
    SELECT status, sum(messages)::int AS messages FROM (
      -- Every message has one provider row ('' for none): the domain rows would count some twice.
      SELECT status, messages FROM message_stats_hourly WHERE scope = 'provider' AND ${rolled}
      UNION ALL
      SELECT m.status, count(*)::int FROM messages m WHERE ${inRanges(live)} GROUP BY 1
    ) u GROUP BY status`;
}

/**
 * The status rows and latency percentiles of the messages accepted in [since, until), from `split`'s rollup
 * hours and live ranges merged in one statement each, so only the sums and the percentiles (the floor of the
 * bucket a fraction of the messages fall under) leave Postgres.
 */
export async function hourlyRows(db: Db, since: Date, until: Date): Promise<{ statuses: StatusRow[]; latency: PercentileRow[] }> {
  const { live, rolled, rolledDays, rolledHoursOutsideDays } = await split(db, since, until);
  const [statuses, latency] = await Promise.all([
    db.$queryRaw<StatusRow[]>`
      SELECT scope, key, status, sum(messages)::int AS messages, sum(email_sent)::int AS email_sent FROM (
        SELECT scope, key, status, messages, email_sent FROM message_stats_hourly WHERE ${rolled}
        UNION ALL
        SELECT scope, key, status, messages, email_sent FROM (${statusRowsOver(live)}) s
      ) u GROUP BY scope, key, status`,
    db.$queryRaw<PercentileRow[]>`
      WITH h AS (
        SELECT scope, key, kind, bucket_ms, messages FROM message_latency_daily WHERE ${rolledDays}
        UNION ALL
        SELECT scope, key, kind, bucket_ms, messages FROM message_latency_hourly WHERE ${rolledHoursOutsideDays}
        UNION ALL
        SELECT scope, key, kind, bucket_ms, messages FROM (${latencyRowsOver(live)}) l
      ),
      buckets AS (
        SELECT scope, key, kind, bucket_ms, sum(messages) AS n FROM h GROUP BY scope, key, kind, bucket_ms
      ),
      running AS (
        SELECT *, sum(n) FILTER (WHERE bucket_ms IS NOT NULL) OVER (PARTITION BY scope, key, kind ORDER BY bucket_ms) AS below,
                  sum(n) FILTER (WHERE bucket_ms IS NOT NULL) OVER (PARTITION BY scope, key, kind) AS total
        FROM buckets
      )
      SELECT scope, key, kind, min(bucket_ms) FILTER (WHERE below >= 0.5 * total)::float8 AS p50,
             min(bucket_ms) FILTER (WHERE below >= 0.95 * total)::float8 AS p95
      FROM running GROUP BY scope, key, kind`,
  ]);
  return { statuses, latency };
}
