import { Prisma, type Db } from '../db/prisma';
import type { Channel, MessageStatus } from '../generated/prisma/enums';
import type { Logger } from '../lib/logger';
import { insertAccepted, type AcceptedRow } from './accepted-rows';
import {
  claimForSend,
  insertQueued,
  recordSent,
  selectSendable,
  toSendable,
  type SendableMessage,
  type SendableRow,
  type SentRecord,
} from './send-statements';
import {
  IN_FLIGHT,
  replaceableBy,
  statusForReport,
  type EndDetail,
  type MessageChange,
  type ProviderReport,
  type ProviderReportDetail,
  type SendFailedDetail,
  type SkipDetail,
  type TimelineEvent,
} from './timeline';

/**
 * The one owner of a message's state: every status change and every timeline event goes through here. Each
 * transition says which statuses it may move a message from and answers whether it applied; after a write
 * has committed, `onChange` hears of it (outbound events and traces hang off that, not off the call sites).
 */

export type { AcceptedRow } from './accepted-rows';
export type { SendableMessage } from './send-statements';
export type { MessageChange, ProviderReport, TimelineEvent } from './timeline';

export interface MessageStoreDeps {
  db: Db;
  now?: () => Date;
  /** Called after each committed change; not awaited, and its failure does not undo the change. */
  onChange?: (change: MessageChange) => void | Promise<void>;
  /** Where a failing `onChange` is reported. */
  log?: Logger;
}

export type MessageStore = ReturnType<typeof createMessageStore>;

/** Prisma's "record to update not found": a guarded `update` whose status guard refused. */
const refusedByGuard = (err: unknown): boolean => (err as { code?: string }).code === 'P2025';

export function createMessageStore({ db, now = () => new Date(), onChange, log }: MessageStoreDeps) {
  function changed(messageId: string, status: MessageStatus, event: TimelineEvent, at: Date = now()): void {
    if (!onChange) return;
    const report = (err: unknown) =>
      log?.warn({ message_id: messageId, event: event.type, err: String(err) }, 'message change hook failed');
    try {
      void Promise.resolve(onChange({ messageId, status, event, at })).catch(report);
    } catch (err) {
      report(err);
    }
  }

  async function append(messageId: string, status: MessageStatus, event: TimelineEvent, occurredAt?: Date): Promise<void> {
    const provider = 'provider' in event ? event.provider : undefined;
    await db.messageEvent.create({ data: { messageId, type: event.type, provider, occurredAt, detail: event.detail as never } });
    changed(messageId, status, event, occurredAt);
  }

  /** One statement: each message with its content and `received` event, or none of it. Returns the ids inserted. */
  async function recordAccepted(rows: AcceptedRow[]): Promise<Set<string>> {
    const inserted = await db.$queryRaw<{ id: string }[]>(insertAccepted(JSON.stringify(rows)));
    const ids = new Set(inserted.map((r) => r.id));
    for (const row of rows) {
      if (ids.has(row.id)) changed(row.id, 'queued', { type: 'received', detail: row.detail }, row.created_at);
    }
    return ids;
  }

  /** A message with its content, as a send run reads it; null if there is none. */
  async function loadForSend(messageId: string): Promise<SendableMessage | null> {
    const [row] = await db.$queryRaw<SendableRow[]>(selectSendable(messageId));
    return row ? toSendable(row) : null;
  }

  /** Takes a message for one send run: only while it is in flight and no other run's lease holds it. */
  async function claim(messageId: string, at: Date, leaseUntil: Date): Promise<boolean> {
    return (await db.$executeRaw(claimForSend(messageId, at, leaseUntil))) === 1;
  }

  /** The `queued` event of the job that claimed the message, once however often that job runs. */
  async function recordQueued(messageId: string, queuedAt: Date): Promise<void> {
    const inserted = await db.$executeRaw(insertQueued(messageId, queuedAt));
    if (inserted === 1) changed(messageId, 'sending', { type: 'queued', detail: {} }, queuedAt);
  }

  /**
   * Hands the message back to the queue. Only while it is still `sending`: a run whose lease had lapsed may
   * have recorded it `sent` meanwhile, and that must not turn back into `queued`.
   */
  async function release(messageId: string): Promise<boolean> {
    const { count } = await db.message.updateMany({
      where: { id: messageId, status: 'sending' },
      data: { status: 'queued', leaseUntil: null },
    });
    return count === 1;
  }

  /** The sweeper re-queued it: touched so the next sweep leaves it to the worker. Only while in flight. */
  async function touch(messageId: string, at: Date): Promise<boolean> {
    const { count } = await db.message.updateMany({ where: { id: messageId, status: { in: IN_FLIGHT } }, data: { updatedAt: at } });
    return count === 1;
  }

  /**
   * Ends a send run without a send. Only from a status still in flight: a run whose lease lapsed must not undo
   * another run's result. Null when the guard refused (another run got there first).
   */
  async function end(
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

  /**
   * One provider attempt failed: counted, and on the timeline. The run still holds the message (`sending`).
   * Returns the event's id, which a run of the same failure updates (`recordRepeatedFailure`).
   */
  async function recordAttemptFailed(messageId: string, provider: string, lastError: string, detail: SendFailedDetail): Promise<string> {
    const [, event] = await db.$transaction([
      db.message.update({ where: { id: messageId }, data: { lastError, provider, attempts: { increment: 1 } } }),
      db.messageEvent.create({ data: { messageId, type: 'send_failed', provider, detail: detail as never }, select: { id: true } }),
    ]);
    changed(messageId, 'sending', { type: 'send_failed', provider, detail });
    return event.id.toString();
  }

  /** The same failure again: counted on the message, and the run's one event (`eventId`) gets its count. */
  async function recordRepeatedFailure(
    messageId: string,
    provider: string,
    lastError: string,
    eventId: string,
    detail: SendFailedDetail,
  ): Promise<void> {
    await db.$transaction([
      db.message.update({ where: { id: messageId }, data: { lastError, provider, attempts: { increment: 1 } } }),
      db.messageEvent.update({ where: { id: BigInt(eventId) }, data: { detail: detail as never } }),
    ]);
    changed(messageId, 'sending', { type: 'send_failed', provider, detail });
  }

  /** The provider took it. Only from in flight, as `end`: a stale run cannot overwrite a settled message. */
  async function markSent(messageId: string, sent: SentRecord): Promise<boolean> {
    const detail = { provider_message_id: sent.providerMessageId, ...sent.detail };
    const [{ sent: count }] = (await db.$queryRaw<{ sent: number }[]>(recordSent(messageId, { ...sent, detail }))) as [{ sent: number }];
    if (count !== 1) return false;
    changed(messageId, 'sent', { type: 'sent', provider: sent.provider, detail }, sent.sentAt);
    return true;
  }

  /** A new run of skips (provider, reason) starts one event; returns its id, which later counts update. */
  async function recordSkip(messageId: string, provider: string, at: Date, detail: SkipDetail): Promise<string> {
    const event = await db.messageEvent.create({
      data: { messageId, type: 'provider_skipped', provider, occurredAt: at, detail: { ...detail } },
      select: { id: true },
    });
    changed(messageId, 'sending', { type: 'provider_skipped', provider, detail }, at);
    return event.id.toString();
  }

  /** Brings a skip run's event up to date (its count); the same event, so no change is announced. */
  async function updateSkip(eventId: string, detail: SkipDetail): Promise<void> {
    await db.messageEvent.update({ where: { id: BigInt(eventId) }, data: { detail: { ...detail } } });
  }

  /**
   * An admin's retry: back to `queued` in a new send generation, only from the status the caller saw (two
   * clicks queue it once). Returns the new generation, or null when the message had changed meanwhile.
   */
  async function requeue(messageId: string, from: MessageStatus, at: Date): Promise<number | null> {
    const generation = await db.$transaction(async (tx) => {
      const { count } = await tx.message.updateMany({
        where: { id: messageId, status: from },
        data: { status: 'queued', leaseUntil: null, updatedAt: at, sendGeneration: { increment: 1 } },
      });
      if (count !== 1) return null;
      const { sendGeneration } = await tx.message.findUniqueOrThrow({ where: { id: messageId }, select: { sendGeneration: true } });
      await tx.messageEvent.create({
        data: { messageId, type: 'retried', occurredAt: at, detail: { previous_status: from, by: 'admin', generation: sendGeneration } },
      });
      return sendGeneration;
    });
    if (generation !== null) {
      changed(messageId, 'queued', { type: 'retried', detail: { previous_status: from, by: 'admin', generation } }, at);
    }
    return generation;
  }

  /**
   * A provider's report, recorded once (by its dedupe key). Only the provider that sent the message speaks for
   * it: another's report is recorded, noted, and changes nothing. The status only moves forward (see
   * `replaceableBy`). Returns 'duplicate' when an earlier run recorded it, and the status it moved to, if any.
   */
  async function applyProviderEvent(
    message: { id: string; status: MessageStatus; provider: string | null },
    report: ProviderReport,
  ): Promise<{ outcome: 'applied' | 'duplicate'; moved: MessageStatus | null }> {
    const applies = message.provider === report.provider;
    const newStatus = applies ? statusForReport(report.type) : undefined;
    const detail: ProviderReportDetail = applies
      ? report.detail
      : { ...report.detail, not_applied: `the message was sent by ${message.provider ?? 'no provider'}, not ${report.provider}` };
    const { id: messageId } = message;
    let moved: MessageStatus | null = null;
    try {
      const [, statusChange] = await db.$transaction([
        db.messageEvent.create({
          data: {
            messageId,
            type: report.type,
            provider: report.provider,
            occurredAt: report.at,
            dedupeKey: report.dedupeKey,
            detail: detail as never,
          },
        }),
        ...(newStatus
          ? [
              db.message.updateMany({
                where: { id: messageId, status: { in: replaceableBy(report.type, report.bounceKind) } },
                data: { status: newStatus, ...(report.failure ? { lastError: report.failure } : {}) },
              }),
            ]
          : []),
        ...(report.type === 'delivered' && newStatus
          ? [db.message.updateMany({ where: { id: messageId, deliveredAt: null }, data: { deliveredAt: report.at } })]
          : []),
      ]);
      if (newStatus && statusChange && 'count' in statusChange && statusChange.count > 0) moved = newStatus;
    } catch (err) {
      if ((err as { code?: string }).code !== 'P2002') throw err;
      return { outcome: 'duplicate', moved: null };
    }
    changed(messageId, moved ?? message.status, { type: report.type, provider: report.provider, reported: true, detail }, report.at);
    return { outcome: 'applied', moved };
  }

  /** The Clerk write-back's outcome, on the message's timeline while the message is kept. False if it is gone. */
  async function recordWriteback(messageId: string, detail: { email_status: string } & Record<string, unknown>): Promise<boolean> {
    // The message may have aged out of the log; the caller still logs the outcome.
    const message = await db.message.findUnique({ where: { id: messageId }, select: { status: true } });
    if (!message) return false;
    await append(messageId, message.status, { type: 'clerk_writeback', provider: 'clerk', detail });
    return true;
  }

  return {
    recordAccepted,
    loadForSend,
    claim,
    recordQueued,
    release,
    touch,
    markFailed: (messageId: string, detail: EndDetail, dropPayload: boolean) => end(messageId, 'failed', detail, dropPayload),
    expire: (messageId: string, detail: EndDetail) => end(messageId, 'expired', detail, true),
    suppress: (messageId: string, detail: EndDetail, dropPayload: boolean) => end(messageId, 'suppressed', detail, dropPayload),
    recordAttemptFailed,
    recordRepeatedFailure,
    markSent,
    recordFailover: (messageId: string, provider: string, from: string, duplicatePossible = false) =>
      append(messageId, 'sending', {
        type: 'failover',
        provider,
        detail: { from, ...(duplicatePossible ? { duplicate_possible: true as const } : {}) },
      }),
    recordFallback: (messageId: string, detail: { message_id: string; channel: Channel }) =>
      append(messageId, 'sending', { type: 'fallback', detail }),
    recordSkip,
    updateSkip,
    requeue,
    applyProviderEvent,
    recordWriteback,
  };
}
