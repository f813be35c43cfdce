import { Prisma, type Db } from '../db/prisma';
import { sqlOf } from '../db/sql';
import type { Channel, MessageStatus } from '../generated/prisma/enums';
import type { StoreContext } from './message-changes';
import {
  CLAIM_FOR_SEND,
  claimValues,
  RECORD_SENT,
  recordSentValues,
  toSendClaim,
  type ClaimRequest,
  type SendClaim,
  type SendClaimRow,
  type SentRequest,
} from './send-statements';
import { IN_FLIGHT, type EndDetail, type SendFailedDetail, type SkipDetail } from './timeline';

/**
 * The message store's send-path transitions: accepted, claimed by a send run, attempts, skips, and the run's
 * end (sent, failed, expired, suppressed) or its hand-back to the queue. Composed by `createMessageStore`.
 */

/** Prisma's "record to update not found": a guarded `update` whose status guard refused. */
const refusedByGuard = (err: unknown): boolean => (err as { code?: string }).code === 'P2025';

/**
 * Send runs' starts, in one statement for a batch (send-batcher.ts groups them): per run, the message with its
 * content, taken for this run (only while it is in flight, unexpired and no other run's lease holds it), the
 * job's `queued` event (once however often the job runs) and the recipient's suppression. Answers in the
 * claims' order; null: no such message. `queuedAt` null: no `queued` event. Message ids distinct.
 */
export async function claimForSend({ db, changed }: StoreContext, claims: ClaimRequest[]): Promise<(SendClaim | null)[]> {
  const rows = await sqlOf(db).rows<SendClaimRow>(CLAIM_FOR_SEND, claimValues(claims));
  const byId = new Map(rows.map((row) => [row.id, row]));
  return claims.map(({ messageId, queuedAt }) => {
    const row = byId.get(messageId);
    if (!row) return null;
    if (row.queued) changed(messageId, 'sending', { type: 'queued', detail: {} }, queuedAt!);
    return toSendClaim(row);
  });
}

/**
 * Hands the message back to the queue. Only while it is still `sending`: a run whose lease had lapsed may
 * have recorded it `sent` meanwhile, and that must not turn back into `queued`.
 */
export async function release(db: Db, messageId: string): Promise<boolean> {
  const { count } = await db.message.updateMany({
    where: { id: messageId, status: 'sending' },
    data: { status: 'queued', leaseUntil: null },
  });
  return count === 1;
}

/** The sweeper re-queued it: touched so the next sweep leaves it to the worker. Only while in flight. */
export async function touch(db: Db, messageId: string, at: Date): Promise<boolean> {
  const { count } = await db.message.updateMany({ where: { id: messageId, status: { in: IN_FLIGHT } }, data: { updatedAt: at } });
  return count === 1;
}

/**
 * Ends a send run without a send. Only from a status still in flight: a run whose lease lapsed must not undo
 * another run's result. Null when the guard refused (another run got there first).
 */
export async function endSendRun(
  { db, changed }: StoreContext,
  messageId: string,
  status: Extract<MessageStatus, 'failed' | 'expired' | 'suppressed'>,
  detail: EndDetail,
  dropPayload: boolean,
): Promise<{ provider: string | null; channel: Channel } | null> {
  try {
    const [settled] = await db.$transaction([
      db.message.update({
        where: { id: messageId, status: { in: IN_FLIGHT } },
        data: { status, lastError: detail.reason, leaseUntil: null },
      }),
      db.messageEvent.create({ data: { messageId, type: status, detail } }),
      ...(dropPayload ? [db.messageContent.updateMany({ where: { messageId }, data: { payload: Prisma.DbNull } })] : []),
    ]);
    changed(messageId, status, { type: status, detail });
    return { provider: settled.provider, channel: settled.channel };
  } catch (err) {
    if (refusedByGuard(err)) return null;
    throw err;
  }
}

/** A failed attempt on the message itself: counted, with its error and provider. */
const countAttempt = (db: Db, messageId: string, provider: string, lastError: string) =>
  db.message.update({ where: { id: messageId }, data: { lastError, provider, attempts: { increment: 1 } } });

/**
 * One provider attempt failed: counted, and on the timeline. The run still holds the message (`sending`).
 * Returns the event's id, which a run of the same failure updates (`recordRepeatedFailure`).
 */
export async function recordAttemptFailed(
  { db, changed }: StoreContext,
  messageId: string,
  provider: string,
  lastError: string,
  detail: SendFailedDetail,
): Promise<string> {
  const [, event] = await db.$transaction([
    countAttempt(db, messageId, provider, lastError),
    db.messageEvent.create({ data: { messageId, type: 'send_failed', provider, detail: detail as never }, select: { id: true } }),
  ]);
  changed(messageId, 'sending', { type: 'send_failed', provider, detail });
  return event.id.toString();
}

/** The same failure again: counted on the message, and the run's one event (`eventId`) gets its count. */
export async function recordRepeatedFailure(
  { db, changed }: StoreContext,
  messageId: string,
  provider: string,
  lastError: string,
  eventId: string,
  detail: SendFailedDetail,
): Promise<void> {
  await db.$transaction([
    countAttempt(db, messageId, provider, lastError),
    db.messageEvent.update({ where: { id: BigInt(eventId) }, data: { detail: detail as never } }),
  ]);
  changed(messageId, 'sending', { type: 'send_failed', provider, detail });
}

/**
 * The provider took them, in one statement for a batch (send-batcher.ts). Only from in flight, as `end`: a
 * stale run cannot overwrite a settled message. Answers in the records' order. Message ids distinct.
 */
export async function markSent({ db, changed }: StoreContext, records: SentRequest[]): Promise<boolean[]> {
  const withIds = records.map(({ messageId, sent }) => ({
    messageId,
    sent: { ...sent, detail: { provider_message_id: sent.providerMessageId, ...sent.detail } },
  }));
  const rows = await sqlOf(db).rows<{ id: string }>(RECORD_SENT, recordSentValues(withIds));
  const recorded = new Set(rows.map((row) => row.id));
  return withIds.map(({ messageId, sent }) => {
    if (!recorded.has(messageId)) return false;
    changed(messageId, 'sent', { type: 'sent', provider: sent.provider, detail: sent.detail }, sent.sentAt);
    return true;
  });
}

/** A new run of skips (provider, reason) starts one event; returns its id, which later counts update. */
export async function recordSkip(
  { db, changed }: StoreContext,
  messageId: string,
  provider: string,
  at: Date,
  detail: SkipDetail,
): Promise<string> {
  const event = await db.messageEvent.create({
    data: { messageId, type: 'provider_skipped', provider, occurredAt: at, detail: { ...detail } },
    select: { id: true },
  });
  changed(messageId, 'sending', { type: 'provider_skipped', provider, detail }, at);
  return event.id.toString();
}

/** Brings a skip run's event up to date (its count); the same event, so no change is announced. */
export async function updateSkip(db: Db, eventId: string, detail: SkipDetail): Promise<void> {
  await db.messageEvent.update({ where: { id: BigInt(eventId) }, data: { detail: { ...detail } } });
}
