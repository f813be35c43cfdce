import type { Db } from '../db/prisma';
import { statusCounts } from '../deliverability/stats-rollup';

/** `expired`: codes that could not be sent in time, the first sign of a backlog or a provider outage. */
export const CHART_EVENT_TYPES = ['sent', 'delivered', 'bounced', 'complained', 'failed', 'expired'] as const;
export type ChartEventType = (typeof CHART_EVENT_TYPES)[number];

export interface HourlyOverview {
  /** Start of each hour, oldest first (24 of them, the last is the current hour). */
  hours: Date[];
  counts: Record<ChartEventType, number[]>;
  acceptedToSent: { p50: (number | null)[]; p95: (number | null)[] };
  sentToDelivered: { p50: (number | null)[]; p95: (number | null)[] };
  /** Messages created in the window, by their current status. */
  statuses: Record<string, number>;
  /** SMS a provider accepted in the window, per provider: how many its status callbacks said arrived or did not. */
  smsDelivery: SmsDeliveryRow[];
}

export interface SmsDeliveryRow {
  provider: string;
  sent: number;
  delivered: number;
  /** Accepted, then reported undelivered or failed by the provider. */
  undelivered: number;
}

const HOUR_MS = 3_600_000;

/**
 * The last 24 hours of the delivery log, by hour. The statuses come from the hourly rollup's whole hours and
 * from messages for the rest (the current hour, hours changed since the last fold). The other figures cannot:
 * the rollup is by acceptance hour and keeps latency as a histogram, where these are by the hour of the event
 * and exact. They read one index range by time each: events by (type, occurred_at), messages by created_at.
 * Spans are in seconds by `date_part` (float8), not `extract` (numeric), whose arithmetic and sort made the
 * percentile statements about a sixth slower at a million messages.
 */
export async function hourlyOverview(db: Db, now: Date = new Date()): Promise<HourlyOverview> {
  const firstHour = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - 23 * HOUR_MS);
  const hours = Array.from({ length: 24 }, (_, i) => new Date(firstHour.getTime() + i * HOUR_MS));
  const slot = (d: Date): number => Math.floor((d.getTime() - firstHour.getTime()) / HOUR_MS);
  // Messages sent or delivered in the window were created at most an OTP lifetime or so before it.
  const createdSince = new Date(firstHour.getTime() - 24 * HOUR_MS);

  const [eventRows, sentRows, deliveredRows, statusRows, smsRows] = await Promise.all([
    db.$queryRaw<{ hour: Date; type: string; n: bigint }[]>`
      SELECT date_trunc('hour', occurred_at) AS hour, type, count(*) AS n
      FROM message_events
      WHERE type = ANY(${[...CHART_EVENT_TYPES]}) AND occurred_at >= ${firstHour}
        -- A provider's own "sent" webhook confirms our send; counting it too would show every send twice.
        AND NOT (type = 'sent' AND detail ? 'provider_event_id')
      GROUP BY 1, 2`,
    db.$queryRaw<{ hour: Date; p50: number; p95: number }[]>`
      SELECT date_trunc('hour', sent_at) AS hour,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(date_part('epoch', sent_at - created_at), 0)) AS p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY greatest(date_part('epoch', sent_at - created_at), 0)) AS p95
      FROM messages
      WHERE created_at >= ${createdSince} AND sent_at >= ${firstHour}
      GROUP BY 1`,
    db.$queryRaw<{ hour: Date; p50: number; p95: number }[]>`
      SELECT date_trunc('hour', delivered_at) AS hour,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(date_part('epoch', delivered_at - sent_at), 0)) AS p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY greatest(date_part('epoch', delivered_at - sent_at), 0)) AS p95
      FROM messages
      WHERE created_at >= ${createdSince} AND delivered_at >= ${firstHour} AND sent_at IS NOT NULL
      GROUP BY 1`,
    statusCounts(db, firstHour, now),
    db.$queryRaw<{ provider: string; sent: bigint; delivered: bigint; undelivered: bigint }[]>`
      SELECT provider, count(*) AS sent, count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
             count(*) FILTER (WHERE status = 'failed') AS undelivered
      FROM messages
      WHERE created_at >= ${createdSince} AND channel = 'sms' AND sent_at >= ${firstHour} AND provider IS NOT NULL
      GROUP BY 1 ORDER BY 2 DESC`,
  ]);

  const counts = Object.fromEntries(CHART_EVENT_TYPES.map((t) => [t, new Array<number>(24).fill(0)])) as HourlyOverview['counts'];
  for (const r of eventRows) {
    const i = slot(r.hour);
    if (i >= 0 && i < 24) counts[r.type as ChartEventType][i] = Number(r.n);
  }
  const percentiles = (rows: { hour: Date; p50: number; p95: number }[]) => {
    const p50 = new Array<number | null>(24).fill(null);
    const p95 = new Array<number | null>(24).fill(null);
    for (const r of rows) {
      const i = slot(r.hour);
      if (i >= 0 && i < 24) {
        p50[i] = r.p50;
        p95[i] = r.p95;
      }
    }
    return { p50, p95 };
  };
  return {
    hours,
    counts,
    acceptedToSent: percentiles(sentRows),
    sentToDelivered: percentiles(deliveredRows),
    statuses: Object.fromEntries(statusRows.map((r) => [r.status, r.messages])),
    smsDelivery: smsRows.map((r) => ({
      provider: r.provider,
      sent: Number(r.sent),
      delivered: Number(r.delivered),
      undelivered: Number(r.undelivered),
    })),
  };
}
