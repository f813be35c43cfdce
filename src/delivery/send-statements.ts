import { Prisma } from '../db/prisma';
import type { Channel, MessageSource, MessageStatus } from '../generated/prisma/enums';
import { IN_FLIGHT } from './timeline';

/*
 * The statements of a send run's happy path, in SQL. Each runs once per message sent, and through Prisma's
 * query builder each cost more CPU than Postgres spent on it (the send worker's profile: about 44 % in
 * Prisma); as raw statements each is one round trip, and the `sent` record, once a transaction of five, is
 * one statement whose parts commit or fail together.
 */

/** `status IN ('queued', 'sending')`: the statuses a send run may still change. */
const inFlight = Prisma.raw(`(${IN_FLIGHT.map((status) => `'${status}'`).join(', ')})`);

/** A message as a send run reads it: what it needs to build the provider request and to decide. */
export interface SendableMessage {
  id: string;
  source: MessageSource;
  channel: Channel;
  status: MessageStatus;
  recipient: string;
  template: string | null;
  sendGeneration: number;
  expiresAt: Date | null;
  createdAt: Date;
  /** Null once the content row is gone; its payload is null once the clear content was dropped. */
  content: { payload: unknown } | null;
}

/** The same message as `selectSendable` returns it: the columns named as they are in the table. */
export interface SendableRow extends Pick<SendableMessage, 'id' | 'source' | 'channel' | 'status' | 'recipient' | 'template'> {
  send_generation: number;
  expires_at: Date | null;
  created_at: Date;
  has_content: boolean;
  payload: unknown;
}

/** The message and its content in one statement. */
export const selectSendable = (messageId: string) => Prisma.sql`
  SELECT m.id, m.source::text AS source, m.channel::text AS channel, m.status::text AS status, m.recipient,
         m.template, m.send_generation, m.expires_at, m.created_at, c.message_id IS NOT NULL AS has_content, c.payload
  FROM messages m LEFT JOIN message_contents c ON c.message_id = m.id
  WHERE m.id = ${messageId}`;

export const toSendable = (row: SendableRow): SendableMessage => ({
  id: row.id,
  source: row.source,
  channel: row.channel,
  status: row.status,
  recipient: row.recipient,
  template: row.template,
  sendGeneration: row.send_generation,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
  content: row.has_content ? { payload: row.payload } : null,
});

/** Takes the message for one run: only while in flight and no other run's lease holds it. Affects 0 or 1 row. */
export const claimForSend = (messageId: string, at: Date, leaseUntil: Date) => Prisma.sql`
  UPDATE messages SET status = 'sending', lease_until = ${leaseUntil}, updated_at = ${at}
  WHERE id = ${messageId} AND status IN ${inFlight} AND (lease_until IS NULL OR lease_until < ${at})`;

/** The `queued` event, once per job run (its dedupe key). Inserts 0 or 1 row. */
export const insertQueued = (messageId: string, queuedAt: Date) => Prisma.sql`
  INSERT INTO message_events (message_id, type, occurred_at, dedupe_key)
  VALUES (${messageId}, 'queued', ${queuedAt}, ${`queued:${messageId}:${queuedAt.getTime()}`})
  ON CONFLICT DO NOTHING`;

export interface SentRecord {
  provider: string;
  providerMessageId: string;
  sentAt: Date;
  /** The `sent` event's detail. */
  detail: Record<string, unknown>;
  headers: Record<string, string> | undefined;
  dropPayload: boolean;
}

/**
 * The provider took it: status, `sent` event and content (headers kept, clear code dropped) in one statement,
 * all of it only if the message was still in flight. Returns `[{ sent: 1 }]`, or `[{ sent: 0 }]` when the
 * guard refused (a stale run; nothing was written).
 */
export const recordSent = (messageId: string, sent: SentRecord) => Prisma.sql`
  WITH sent AS (
    UPDATE messages SET status = 'sent', provider = ${sent.provider}, provider_message_id = ${sent.providerMessageId},
           sent_at = ${sent.sentAt}, last_error = NULL, lease_until = NULL, attempts = attempts + 1, updated_at = ${sent.sentAt}
    WHERE id = ${messageId} AND status IN ${inFlight}
    RETURNING id
  ), event AS (
    INSERT INTO message_events (message_id, type, provider, occurred_at, detail)
    SELECT id, 'sent', ${sent.provider}, ${sent.sentAt}, ${JSON.stringify(sent.detail)}::jsonb FROM sent
  ), content AS (
    UPDATE message_contents
    SET headers = COALESCE(${sent.headers === undefined ? null : JSON.stringify(sent.headers)}::jsonb, headers),
        payload = CASE WHEN ${sent.dropPayload}::boolean THEN NULL ELSE payload END
    WHERE message_id IN (SELECT id FROM sent)
  )
  SELECT count(*)::int AS sent FROM sent`;
