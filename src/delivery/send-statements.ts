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

/** One send run's claim, as `claimForSend` is asked for it. */
export interface ClaimRequest {
  messageId: string;
  at: Date;
  leaseUntil: Date;
  /** When the queue took the job; null: no `queued` event. */
  queuedAt: Date | null;
}

/**
 * Per message: reads it with its content and takes it for one run, only while it is in flight, unexpired and
 * no other run's lease holds it; then the job's `queued` event, once per job run (its dedupe key); and the
 * recipient's suppression in force. The read is the statement's snapshot, from before the claim. One row per
 * message found (none: no such message). The messages are locked in id order first, so two batches sharing
 * messages wait for each other instead of deadlocking. Arrays, one element per message (ids distinct): $1 ids,
 * $2 nows, $3 leases until, $4 when the queue took each job (null: no event), $5 those events' dedupe keys.
 */
export const CLAIM_FOR_SEND: NamedStatement = {
  name: 'send_claim_batch',
  text: `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::text[])
      AS i(id, at, lease_until, queued_at, queued_key)
  ), msg AS (
    SELECT m.id, m.source::text AS source, m.channel, m.status::text AS status, m.recipient, m.template,
           m.send_generation, m.expires_at, m.created_at, c.message_id IS NOT NULL AS has_content, c.payload, i.at
    FROM input i JOIN messages m ON m.id = i.id LEFT JOIN message_contents c ON c.message_id = m.id
  ), locked AS (
    SELECT id FROM messages WHERE id IN (SELECT id FROM input) ORDER BY id FOR UPDATE
  ), claimed AS (
    UPDATE messages m SET status = 'sending', lease_until = i.lease_until, updated_at = i.at
    FROM input i, locked l
    WHERE m.id = i.id AND l.id = i.id AND m.status IN ${inFlight} AND (m.lease_until IS NULL OR m.lease_until < i.at)
      AND (m.expires_at IS NULL OR m.expires_at > i.at)
    RETURNING m.id, i.queued_at, i.queued_key
  ), queued AS (
    INSERT INTO message_events (message_id, type, occurred_at, dedupe_key)
    SELECT id, 'queued', queued_at, queued_key FROM claimed WHERE queued_at IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING message_id
  )
  SELECT msg.id, msg.source, msg.channel::text AS channel, msg.status, msg.recipient, msg.template, msg.send_generation,
         msg.expires_at, msg.created_at, msg.has_content, msg.payload,
         claimed.id IS NOT NULL AS claimed, queued.message_id IS NOT NULL AS queued,
         s.id AS suppression_id, s.reason AS suppression_reason, s.source_message_id AS suppression_source_message_id,
         s.expires_at AS suppression_expires_at
  FROM msg LEFT JOIN claimed ON claimed.id = msg.id LEFT JOIN queued ON queued.message_id = msg.id
  LEFT JOIN suppressions s
    ON s.channel = msg.channel AND s.recipient = msg.recipient AND (s.expires_at IS NULL OR s.expires_at > msg.at)`,
};

export const claimValues = (claims: ClaimRequest[]): unknown[] => [
  claims.map((c) => c.messageId),
  claims.map((c) => c.at),
  claims.map((c) => c.leaseUntil),
  claims.map((c) => c.queuedAt),
  claims.map((c) => c.queuedAt && queuedEventKey(c.messageId, c.queuedAt)),
];

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

/** One `sent` record, as `markSent` is asked for it. */
export interface SentRequest {
  messageId: string;
  sent: SentRecord;
}

/**
 * Per message, the provider took it: status, `sent` event and content (headers kept, clear code dropped),
 * all of it only if the message was still in flight (else nothing is written: a stale run). Returns the ids
 * recorded. Messages locked in id order first, as `CLAIM_FOR_SEND`. Arrays, one element per message (ids
 * distinct): $1 ids, $2 providers, $3 their message ids, $4 sent at, $5 the events' details (JSON), $6 the
 * headers (JSON; null keeps them), $7 whether the clear payload goes.
 */
export const RECORD_SENT: NamedStatement = {
  name: 'send_sent_batch',
  text: `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::jsonb[], $7::boolean[])
      AS i(id, provider, provider_message_id, sent_at, detail, headers, drop_payload)
  ), locked AS (
    SELECT id FROM messages WHERE id IN (SELECT id FROM input) ORDER BY id FOR UPDATE
  ), sent AS (
    UPDATE messages m SET status = 'sent', provider = i.provider, provider_message_id = i.provider_message_id,
           sent_at = i.sent_at, last_error = NULL, lease_until = NULL, attempts = m.attempts + 1, updated_at = i.sent_at
    FROM input i, locked l
    WHERE m.id = i.id AND l.id = i.id AND m.status IN ${inFlight}
    RETURNING m.id, i.provider, i.sent_at, i.detail, i.headers, i.drop_payload
  ), event AS (
    INSERT INTO message_events (message_id, type, provider, occurred_at, detail)
    SELECT id, 'sent', provider, sent_at, detail FROM sent
  ), content AS (
    UPDATE message_contents c
    SET headers = COALESCE(sent.headers, c.headers),
        payload = CASE WHEN sent.drop_payload THEN NULL ELSE c.payload END
    FROM sent WHERE c.message_id = sent.id
  )
  SELECT id FROM sent`,
};

export const recordSentValues = (records: SentRequest[]): unknown[] => [
  records.map((r) => r.messageId),
  records.map((r) => r.sent.provider),
  records.map((r) => r.sent.providerMessageId),
  records.map((r) => r.sent.sentAt),
  records.map((r) => JSON.stringify(r.sent.detail)),
  records.map((r) => (r.sent.headers === undefined ? null : JSON.stringify(r.sent.headers))),
  records.map((r) => r.sent.dropPayload),
];
