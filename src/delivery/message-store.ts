import type { Db } from '../db/prisma';
import type { Channel, MessageStatus } from '../generated/prisma/enums';
import type { Logger } from '../lib/logger';
import { recordAccepted, type AcceptedRow } from './accepted-rows';
import { announceChanges, appendEvent, type StoreContext } from './message-changes';
import { applyProviderEvent, recordWriteback, requeue } from './report-transitions';
import { groupCommit, isDataError } from './send-batcher';
import type { ClaimRequest, SentRecord, SentRequest } from './send-statements';
import {
  claimForSend,
  endSendRun,
  markSent,
  recordAttemptFailed,
  recordRepeatedFailure,
  recordSkip,
  release,
  touch,
  updateSkip,
} from './send-transitions';
import type { EndDetail, MessageChange, ProviderReport, SendFailedDetail, SkipDetail } from './timeline';

/**
 * The one owner of a message's state: every status change and every timeline event goes through here. Each
 * transition says which statuses it may move a message from and answers whether it applied; after a write
 * has committed, `onChange` hears of it (outbound events and traces hang off that, not off the call sites).
 */

export type { AcceptedRow } from './accepted-rows';
export type { ActiveSuppression, SendableMessage, SendClaim } from './send-statements';
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

export function createMessageStore({ db, now = () => new Date(), onChange, log }: MessageStoreDeps) {
  const ctx: StoreContext = { db, changed: announceChanges(now, onChange, log) };
  // Concurrent send runs in this process share their claim and `sent` statements (group commit).
  const claim = groupCommit({
    write: (claims: ClaimRequest[]) => claimForSend(ctx, claims),
    keyOf: (c) => c.messageId,
    mayBeOneItems: isDataError,
  });
  const recordSent = groupCommit({
    write: (records: SentRequest[]) => markSent(ctx, records),
    keyOf: (r) => r.messageId,
    // Whatever failed the batch (a cut connection, a timeout, one row's data), each is written again alone: its
    // provider took the message, and one unrecorded is sent again once its lease lapses. Safe: a record that did
    // commit finds its message no longer in flight, and the guard refuses it.
    mayBeOneItems: () => true,
  });
  return {
    recordAccepted: (rows: AcceptedRow[]) => recordAccepted(ctx, rows),
    claimForSend: (messageId: string, at: Date, leaseUntil: Date, queuedAt: Date | null) => claim({ messageId, at, leaseUntil, queuedAt }),
    release: (messageId: string) => release(db, messageId),
    touch: (messageId: string, at: Date) => touch(db, messageId, at),
    markFailed: (messageId: string, detail: EndDetail, dropPayload: boolean) => endSendRun(ctx, messageId, 'failed', detail, dropPayload),
    expire: (messageId: string, detail: EndDetail) => endSendRun(ctx, messageId, 'expired', detail, true),
    suppress: (messageId: string, detail: EndDetail, dropPayload: boolean) => endSendRun(ctx, messageId, 'suppressed', detail, dropPayload),
    recordAttemptFailed: (messageId: string, provider: string, lastError: string, detail: SendFailedDetail) =>
      recordAttemptFailed(ctx, messageId, provider, lastError, detail),
    recordRepeatedFailure: (messageId: string, provider: string, lastError: string, eventId: string, detail: SendFailedDetail) =>
      recordRepeatedFailure(ctx, messageId, provider, lastError, eventId, detail),
    markSent: (messageId: string, sent: SentRecord) => recordSent({ messageId, sent }),
    recordFailover: (messageId: string, provider: string, from: string, duplicatePossible = false) =>
      appendEvent(ctx, messageId, 'sending', {
        type: 'failover',
        provider,
        detail: { from, ...(duplicatePossible ? { duplicate_possible: true as const } : {}) },
      }),
    recordFallback: (messageId: string, detail: { message_id: string; channel: Channel }) =>
      appendEvent(ctx, messageId, 'sending', { type: 'fallback', detail }),
    recordSkip: (messageId: string, provider: string, at: Date, detail: SkipDetail) => recordSkip(ctx, messageId, provider, at, detail),
    updateSkip: (eventId: string, detail: SkipDetail) => updateSkip(db, eventId, detail),
    requeue: (messageId: string, from: MessageStatus, at: Date) => requeue(ctx, messageId, from, at),
    applyProviderEvent: (message: { id: string; status: MessageStatus; provider: string | null }, report: ProviderReport) =>
      applyProviderEvent(ctx, message, report),
    recordWriteback: (messageId: string, detail: { email_status: string } & Record<string, unknown>) =>
      recordWriteback(ctx, messageId, detail),
  };
}
