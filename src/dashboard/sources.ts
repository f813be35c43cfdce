import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { Channel } from '../generated/prisma/enums';
import { newId } from '../lib/ids';
import { normalizeRecipient } from '../delivery/content';

/**
 * What the dashboard, metrics and CLI need from deliverability (suppressions, rates) and providers (circuit
 * states), as narrow interfaces. The implementations below read what the delivery log already holds; the
 * deliverability and provider services satisfy the same interfaces and replace them in src/container.ts.
 */

export interface SuppressionEntry {
  id: string;
  channel: Channel;
  recipient: string;
  reason: string;
  source_message_id: string | null;
  created_at: string;
  expires_at: string | null;
}

export interface SuppressionStore {
  list(query: { search?: string; channel?: Channel; limit: number }): Promise<SuppressionEntry[]>;
  /** Suppressing an address already suppressed keeps one entry, with the new reason. */
  add(input: { channel: Channel; recipient: string; reason: string; sourceMessageId?: string }): Promise<SuppressionEntry>;
  /** False when the address was not suppressed. */
  release(input: { channel: Channel; recipient: string }): Promise<boolean>;
}

export interface RateRow {
  /** A provider name or a recipient domain. */
  key: string;
  sent: number;
  bounced: number;
  complained: number;
  bounce_rate: number;
  complaint_rate: number;
}

export interface Thresholds {
  bounce: { warn: number; page: number };
  complaint: { warn: number; page: number };
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

export type CircuitState = 'closed' | 'open' | 'half_open' | 'unknown';

export interface CircuitStates {
  states(): Promise<Record<string, CircuitState>>;
}

/** The alert levels from the anchors: stay well below SES's review levels (5 % bounces, 0.1 % complaints). */
export const DEFAULT_THRESHOLDS: Thresholds = {
  bounce: { warn: 0.02, page: 0.04 },
  complaint: { warn: 0.0005, page: 0.0008 },
};

type SuppressionRow = {
  id: string;
  channel: Channel;
  recipient: string;
  reason: string;
  sourceMessageId: string | null;
  createdAt: Date;
  expiresAt: Date | null;
};

const toSuppressionEntry = (s: SuppressionRow): SuppressionEntry => ({
  id: s.id,
  channel: s.channel,
  recipient: s.recipient,
  reason: s.reason,
  source_message_id: s.sourceMessageId,
  created_at: s.createdAt.toISOString(),
  expires_at: s.expiresAt ? s.expiresAt.toISOString() : null,
});

export function createSuppressionTable(db: Db, now: () => Date = () => new Date()): SuppressionStore {
  return {
    async list({ search, channel, limit }) {
      const rows = await db.suppression.findMany({
        where: {
          channel,
          recipient: search ? { contains: search.trim().toLowerCase(), mode: 'insensitive' } : undefined,
          OR: [{ expiresAt: null }, { expiresAt: { gt: now() } }],
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
      });
      return rows.map(toSuppressionEntry);
    },
    async add({ channel, recipient: raw, reason, sourceMessageId }) {
      const { recipient } = normalizeRecipient(channel, raw);
      const row = await db.suppression.upsert({
        where: { channel_recipient: { channel, recipient } },
        create: { id: newId('sup'), channel, recipient, reason, sourceMessageId: sourceMessageId ?? null },
        update: { reason, sourceMessageId: sourceMessageId ?? null, createdAt: now(), expiresAt: null },
      });
      return toSuppressionEntry(row);
    },
    async release({ channel, recipient: raw }) {
      const { recipient } = normalizeRecipient(channel, raw);
      const { count } = await db.suppression.deleteMany({ where: { channel, recipient } });
      return count > 0;
    },
  };
}

const rate = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);

function toRateRow(key: string, sent: number, bounced: number, complained: number): RateRow {
  return { key, sent, bounced, complained, bounce_rate: rate(bounced, sent), complaint_rate: rate(complained, sent) };
}

/** Rates from message statuses: of the messages a provider accepted in the window, how many bounced or complained. */
export function createLogStats(db: Db, now: () => Date = () => new Date()): StatsSource {
  return {
    async rates(windowHours) {
      const since = new Date(now().getTime() - windowHours * 3_600_000);
      const rows = await db.$queryRaw<{ provider: string | null; domain: string | null; sent: bigint; bounced: bigint; complained: bigint }[]>`
        SELECT provider, recipient_domain AS domain,
               count(*) AS sent,
               count(*) FILTER (WHERE status = 'bounced') AS bounced,
               count(*) FILTER (WHERE status = 'complained') AS complained
        FROM messages
        WHERE created_at >= ${since} AND sent_at IS NOT NULL AND channel = 'email'
        GROUP BY provider, recipient_domain`;
      const byProvider = new Map<string, [number, number, number]>();
      const byDomain = new Map<string, [number, number, number]>();
      const total: [number, number, number] = [0, 0, 0];
      for (const r of rows) {
        const counts = [Number(r.sent), Number(r.bounced), Number(r.complained)] as const;
        for (const [map, key] of [[byProvider, r.provider ?? 'unknown'], [byDomain, r.domain ?? 'unknown']] as const) {
          const acc = map.get(key) ?? [0, 0, 0];
          map.set(key, [acc[0] + counts[0], acc[1] + counts[1], acc[2] + counts[2]]);
        }
        total[0] += counts[0];
        total[1] += counts[1];
        total[2] += counts[2];
      }
      const toRows = (map: Map<string, [number, number, number]>) =>
        [...map.entries()].map(([key, c]) => toRateRow(key, ...c)).sort((a, b) => b.sent - a.sent);
      const { key: _key, ...overall } = toRateRow('all', ...total);
      return {
        window_hours: windowHours,
        thresholds: DEFAULT_THRESHOLDS,
        overall,
        providers: toRows(byProvider),
        domains: toRows(byDomain).slice(0, 20),
      };
    },
  };
}

/** Until the provider circuit breaker is wired in, every configured provider's state is unknown. */
export function unknownCircuitStates(config: Pick<Config, 'EMAIL_PROVIDERS' | 'SMS_PROVIDERS'>): CircuitStates {
  return {
    async states() {
      const names = new Set<string>([...config.EMAIL_PROVIDERS, ...config.SMS_PROVIDERS]);
      return Object.fromEntries([...names].map((n) => [n, 'unknown' as const]));
    },
  };
}
