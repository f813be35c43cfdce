import { readSnapshot, type Db } from '../db/prisma';
import type { Prisma } from '../generated/prisma/client';
import { MessageSource, type Channel, type MessageStatus } from '../generated/prisma/enums';
import { decodeCursor, encodeCursor } from '../lib/cursor';
import { normalizeAnyRecipient } from '../lib/recipient';

/** The read side of the delivery log, in the contract's JSON shape (snake_case). */

type MessageRow = Prisma.MessageGetPayload<object>;
type EventRow = Prisma.MessageEventGetPayload<object>;

export interface MessageJson {
  id: string;
  source: string;
  external_id: string | null;
  channel: Channel;
  template: string | null;
  recipient: string;
  user_id: string | null;
  provider: string | null;
  provider_message_id: string | null;
  status: MessageStatus;
  attempts: number;
  subject: string | null;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  updated_at: string;
}

export interface EventJson {
  type: string;
  occurred_at: string;
  provider: string | null;
  detail: unknown;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toMessageJson(m: MessageRow): MessageJson {
  return {
    id: m.id,
    source: m.source,
    external_id: m.externalId,
    channel: m.channel,
    template: m.template,
    recipient: m.recipient,
    user_id: m.userId,
    provider: m.provider,
    provider_message_id: m.providerMessageId,
    status: m.status,
    attempts: m.attempts,
    subject: m.subject,
    last_error: m.lastError,
    created_at: m.createdAt.toISOString(),
    sent_at: iso(m.sentAt),
    delivered_at: iso(m.deliveredAt),
    updated_at: m.updatedAt.toISOString(),
  };
}

export function toEventJson(e: EventRow): EventJson {
  return { type: e.type, occurred_at: e.occurredAt.toISOString(), provider: e.provider, detail: e.detail };
}

export interface MessageFilters {
  /** One box for whatever the engineer has: our id, the source's id (ema_…), the provider's id, a user id or a recipient. */
  search?: string;
  recipient?: string;
  status?: MessageStatus;
  provider?: string;
  channel?: Channel;
  template?: string;
  userId?: string;
  since?: Date;
  until?: Date;
  /** Messages changed at or after this instant, oldest change first (to follow the log); else newest first. */
  updatedSince?: Date;
  limit: number;
  cursor?: string;
}

/** The log's two orders: newest created first, or (`updated_since`) oldest change first. */
const BY_UPDATE = 'u';

/** An exact match on any identifying column; each branch has an index, so Postgres ORs index scans. */
function searchWhere(term: string): Prisma.MessageWhereInput {
  return {
    OR: [
      { id: term },
      { recipient: normalizeAnyRecipient(term) },
      { userId: term },
      { providerMessageId: term },
      // Naming every source lets the (source, external_id) unique index serve a lookup by external id alone.
      { source: { in: Object.values(MessageSource) }, externalId: term },
    ],
  };
}

export type MessageLog = ReturnType<typeof createMessageLog>;

export function createMessageLog(db: Db) {
  async function list(filters: MessageFilters): Promise<{ data: MessageJson[]; next_cursor: string | null }> {
    const where: Prisma.MessageWhereInput = {
      recipient: filters.recipient === undefined ? undefined : normalizeAnyRecipient(filters.recipient),
      status: filters.status,
      provider: filters.provider,
      channel: filters.channel,
      template: filters.template,
      userId: filters.userId,
      createdAt: filters.since || filters.until ? { gte: filters.since, lt: filters.until } : undefined,
    };
    const and: Prisma.MessageWhereInput[] = [where];
    if (filters.search?.trim()) and.push(searchWhere(filters.search.trim()));
    const byUpdate = filters.updatedSince !== undefined;
    if (byUpdate) and.push({ updatedAt: { gte: filters.updatedSince } });
    if (filters.cursor) {
      const c = decodeCursor(filters.cursor, byUpdate ? BY_UPDATE : '');
      // The OR alone is applied as a filter on every row before the position; the redundant bound beside it
      // makes it an index range, so a page deep in the log costs what the first one does.
      and.push(
        byUpdate
          ? { updatedAt: { gte: c.at }, OR: [{ updatedAt: { gt: c.at } }, { updatedAt: c.at, id: { gt: c.id } }] }
          : { createdAt: { lte: c.at }, OR: [{ createdAt: { lt: c.at } }, { createdAt: c.at, id: { lt: c.id } }] },
      );
    }
    const rows = await db.message.findMany({
      where: { AND: and },
      orderBy: byUpdate ? [{ updatedAt: 'asc' }, { id: 'asc' }] : [{ createdAt: 'desc' }, { id: 'desc' }],
      take: filters.limit + 1,
    });
    const page = rows.slice(0, filters.limit);
    const last = page[page.length - 1];
    const next =
      rows.length > filters.limit && last
        ? encodeCursor(byUpdate ? last.updatedAt : last.createdAt, last.id, byUpdate ? BY_UPDATE : '')
        : null;
    return { data: page.map(toMessageJson), next_cursor: next };
  }

  async function get(id: string): Promise<(MessageJson & { events: EventJson[] }) | null> {
    // One snapshot: a send's status and its `sent` event are committed together, and are read so.
    const m = await readSnapshot(db, (tx) =>
      tx.message.findUnique({ where: { id }, include: { events: { orderBy: [{ occurredAt: 'asc' }, { id: 'asc' }] } } }),
    );
    if (!m) return null;
    return { ...toMessageJson(m), events: m.events.map(toEventJson) };
  }

  return { list, get };
}
