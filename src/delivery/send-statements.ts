import type { NamedStatement } from '../db/sql';
import type { Channel, MessageSource, MessageStatus } from '../generated/prisma/enums';
import { IN_FLIGHT } from './timeline';

/*
 * The statements of a send run's happy path, in SQL, run on the pg pool (db/sql.ts): a send that goes through
 * is two statements, the claim and the `sent` record. Through Prisma each cost more CPU than Postgres spent on
 * it, and each separate statement is a round trip and a write to the socket; folded, each statement's parts
 * commit or fail together.
 */

/** `status IN ('queued', 'sending')`: the statuses a send run may still change. */
const inFlight = `(${IN_FLIGHT.map((status) => `'${status}'`).join(', ')})`;

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

/** The suppression list's entry in force for a recipient, as the send path needs it. */
export interface ActiveSuppression {
  id: string;
  reason: string;
  sourceMessageId: string | null;
  expiresAt: Date | null;
}

/** What `claimForSend` found and did, in one statement. */
export interface SendClaim {
  /** As it was before the claim (its status is the one the run found). */
  message: SendableMessage;
  /** This run took the message: `sending`, under its lease. */
  claimed: boolean;
  /** The claim wrote the job's `queued` event (not written before by an earlier run of the same job). */
  queuedRecorded: boolean;
  /** The entry suppressing the message's recipient (as stored on the message) at the claim's time, if any. */
  suppression: ActiveSuppression | null;
}

/** The row `claimForSend` returns: the columns named as they are in the table. */
export interface SendClaimRow extends Pick<SendableMessage, 'id' | 'source' | 'channel' | 'status' | 'recipient' | 'template'> {
  send_generation: number;
  expires_at: Date | null;
  created_at: Date;
  has_content: boolean;
  payload: unknown;
  claimed: boolean;
  queued: boolean;
  suppression_id: string | null;
  suppression_reason: string | null;
  suppression_source_message_id: string | null;
  suppression_expires_at: Date | null;
}

/**
 * Reads the message with its content and takes it for one run, only while it is in flight, unexpired and no
 * other run's lease holds it; then the job's `queued` event, once per job run (its dedupe key); and the
 * recipient's suppression in force. The read is the statement's snapshot, from before the claim. No row: no
 * such message. $1 message id, $2 now, $3 lease until, $4 when the queue took the job (null: no event),
 * $5 that event's dedupe key.
 */
export const CLAIM_FOR_SEND: NamedStatement = {
  name: 'send_claim',
  text: `
  WITH msg AS (
    SELECT m.id, m.source::text AS source, m.channel, m.status::text AS status, m.recipient, m.template,
           m.send_generation, m.expires_at, m.created_at, c.message_id IS NOT NULL AS has_content, c.payload
    FROM messages m LEFT JOIN message_contents c ON c.message_id = m.id
    WHERE m.id = $1
  ), claimed AS (
    UPDATE messages SET status = 'sending', lease_until = $3, updated_at = $2
    WHERE id = $1 AND status IN ${inFlight} AND (lease_until IS NULL OR lease_until < $2)
      AND (expires_at IS NULL OR expires_at > $2)
    RETURNING id
  ), queued AS (
    INSERT INTO message_events (message_id, type, occurred_at, dedupe_key)
    SELECT id, 'queued', $4, $5 FROM claimed WHERE $4::timestamptz IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
  )
  SELECT msg.id, msg.source, msg.channel::text AS channel, msg.status, msg.recipient, msg.template, msg.send_generation,
         msg.expires_at, msg.created_at, msg.has_content, msg.payload,
         EXISTS (SELECT 1 FROM claimed) AS claimed, EXISTS (SELECT 1 FROM queued) AS queued,
         s.id AS suppression_id, s.reason AS suppression_reason, s.source_message_id AS suppression_source_message_id,
         s.expires_at AS suppression_expires_at
  FROM msg LEFT JOIN suppressions s
    ON s.channel = msg.channel AND s.recipient = msg.recipient AND (s.expires_at IS NULL OR s.expires_at > $2)`,
};

export const toSendClaim = (row: SendClaimRow): SendClaim => ({
  message: {
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
  },
  claimed: row.claimed,
  queuedRecorded: row.queued,
  suppression:
    row.suppression_id === null
      ? null
      : {
          id: row.suppression_id,
          reason: row.suppression_reason!,
          sourceMessageId: row.suppression_source_message_id,
          expiresAt: row.suppression_expires_at,
        },
});

/** The dedupe key of a job's `queued` event: one per message and time the queue took the job. */
export const queuedEventKey = (messageId: string, queuedAt: Date): string => `queued:${messageId}:${queuedAt.getTime()}`;

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
 * guard refused (a stale run; nothing was written). $1 message id, $2 provider, $3 its message id, $4 sent at,
 * $5 the event's detail (JSON), $6 the headers (JSON; null keeps them), $7 whether the clear payload goes.
 */
export const RECORD_SENT: NamedStatement = {
  name: 'send_sent',
  text: `
  WITH sent AS (
    UPDATE messages SET status = 'sent', provider = $2, provider_message_id = $3,
           sent_at = $4, last_error = NULL, lease_until = NULL, attempts = attempts + 1, updated_at = $4
    WHERE id = $1 AND status IN ${inFlight}
    RETURNING id
  ), event AS (
    INSERT INTO message_events (message_id, type, provider, occurred_at, detail)
    SELECT id, 'sent', $2, $4, $5::jsonb FROM sent
  ), content AS (
    UPDATE message_contents
    SET headers = COALESCE($6::jsonb, headers),
        payload = CASE WHEN $7::boolean THEN NULL ELSE payload END
    WHERE message_id IN (SELECT id FROM sent)
  )
  SELECT count(*)::int AS sent FROM sent`,
};

export const recordSentValues = (messageId: string, sent: SentRecord): unknown[] => [
  messageId,
  sent.provider,
  sent.providerMessageId,
  sent.sentAt,
  JSON.stringify(sent.detail),
  sent.headers === undefined ? null : JSON.stringify(sent.headers),
  sent.dropPayload,
];
