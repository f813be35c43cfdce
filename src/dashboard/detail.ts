import type { Db } from '../db/prisma';
import { retryRefusal } from '../delivery/retry';
import { toEventJson, toMessageJson, type EventJson, type MessageJson } from '../delivery/message-log';

export interface MessageDetail {
  message: MessageJson;
  events: EventJson[];
  /** The copy kept for display, codes redacted; null once BODY_RETENTION_DAYS have passed. */
  redacted: unknown;
  headers: unknown;
  /** The full message as the outbox provider stored it (development only). */
  outbox: { from: string | null; to: string; subject: string | null; text: string | null; html: string | null; headers: unknown } | null;
  /** Why "retry now" is not offered, or null when it is. */
  retryRefusal: string | null;
}

export async function messageDetail(db: Db, id: string, now: Date = new Date()): Promise<MessageDetail | null> {
  const m = await db.message.findUnique({
    where: { id },
    include: {
      events: { orderBy: [{ occurredAt: 'asc' }, { id: 'asc' }] },
      content: { select: { redacted: true, headers: true, payload: true } },
      outbox: true,
    },
  });
  if (!m) return null;
  return {
    message: toMessageJson(m),
    events: m.events.map(toEventJson),
    redacted: m.content?.redacted ?? null,
    headers: m.content?.headers ?? null,
    outbox: m.outbox
      ? {
          from: m.outbox.from,
          to: m.outbox.to,
          subject: m.outbox.subject,
          text: m.outbox.text,
          html: m.outbox.html,
          headers: m.outbox.headers,
        }
      : null,
    retryRefusal: retryRefusal({ status: m.status, expiresAt: m.expiresAt, hasPayload: m.content?.payload != null }, now),
  };
}
