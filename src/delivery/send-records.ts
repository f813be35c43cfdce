import { Prisma, type Db } from '../db/prisma';
import type { MessageSource, MessageStatus } from '../generated/prisma/enums';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { failureClass } from '../providers/error-policy';
import type { OutgoingEmail, OutgoingSms, ProviderFailure, SentOutcome } from '../providers/types';
import type { MessagePayload } from './content';
import type { MessageService } from './message-service';

/** The statuses a send run may still change; anything else another run (or a provider event) has settled. */
export const IN_FLIGHT: MessageStatus[] = ['queued', 'sending'];

export interface SendRecordsDeps {
  db: Db;
  log: Logger;
  metrics: Pick<Metrics, 'sendAttempt' | 'messageOutcome'>;
  /** Accepts a failed message's fallback (SMS code → email) as a message of its own. */
  messages: Pick<MessageService, 'accept'>;
  now: () => Date;
}

export type SendRecords = ReturnType<typeof createSendRecords>;

/** What the send path writes about a message as it goes: its status, its timeline, its metrics. */
export function createSendRecords({ db, log, metrics, messages, now }: SendRecordsDeps) {
  /** Ends the message `failed`, `expired` or `suppressed`; a code's clear content is dropped with it. */
  async function finish(
    messageId: string,
    status: Extract<MessageStatus, 'failed' | 'expired' | 'suppressed'>,
    reason: string,
    codeBearing: boolean,
    detail: Record<string, string | null> = {},
  ): Promise<void> {
    const [settled] = await db.$transaction([
      // Only from a status still in our hands: a run whose lease lapsed must not undo another run's result.
      // If another run got there first, this throws, the job is retried and finds the message settled.
      db.message.update({ where: { id: messageId, status: { in: IN_FLIGHT } }, data: { status, lastError: reason, leaseUntil: null } }),
      db.messageEvent.create({ data: { messageId, type: status, detail: { reason, ...detail } } }),
      ...(codeBearing ? [db.messageContent.updateMany({ where: { messageId }, data: { payload: Prisma.DbNull } })] : []),
    ]);
    metrics.messageOutcome({ status, provider: settled.provider, channel: settled.channel });
    log.warn({ message_id: messageId, status, reason }, `message ${status}`);
  }

  /**
   * Hands the message back to the queue. Only while it is still ours to send: a worker whose lease had lapsed
   * may have recorded it `sent` meanwhile, and that must not turn back into `queued`.
   */
  async function releaseForRetry(messageId: string): Promise<void> {
    await db.message.updateMany({ where: { id: messageId, status: 'sending' }, data: { status: 'queued', leaseUntil: null } });
  }

  /** Takes the message for this run (`sending`, under a lease), unless another run holds or settled it. */
  async function claim(messageId: string, at: Date, leaseMs: number): Promise<boolean> {
    const claimed = await db.message.updateMany({
      where: { id: messageId, status: { in: IN_FLIGHT }, OR: [{ leaseUntil: null }, { leaseUntil: { lt: at } }] },
      data: { status: 'sending', leaseUntil: new Date(at.getTime() + leaseMs), updatedAt: at },
    });
    return claimed.count > 0;
  }

  /** `queuedAt` is when the queue accepted this job: once on the timeline, however often the job runs. */
  async function recordQueued(messageId: string, queuedAt: Date): Promise<void> {
    await db.messageEvent.createMany({
      data: [{ messageId, type: 'queued', occurredAt: queuedAt, dedupeKey: `queued:${messageId}:${queuedAt.getTime()}` }],
      skipDuplicates: true,
    });
  }

  async function recordFailedAttempt(message: { id: string; channel: 'email' | 'sms' }, provider: string, failure: ProviderFailure): Promise<void> {
    const failureKind = failureClass(failure);
    await db.$transaction([
      db.message.update({
        where: { id: message.id },
        data: { lastError: `${provider}: ${failure.message}`, provider, attempts: { increment: 1 } },
      }),
      db.messageEvent.create({
        data: {
          messageId: message.id,
          type: 'send_failed',
          provider,
          detail: {
            class: failureKind,
            outcome: failure.kind,
            status: failure.status ?? null,
            code: failure.code ?? null,
            message: failure.message,
            raw: (failure.raw ?? null) as never,
            ...(failure.kind === 'retry' && failure.unanswered ? { unanswered: true } : {}),
          },
        },
      }),
    ]);
    metrics.sendAttempt({ provider, channel: message.channel, outcome: failureKind });
    log.warn(
      { message_id: message.id, provider, outcome: failure.kind, status: failure.status, code: failure.code, err: failure.message },
      'send attempt failed',
    );
  }

  /** `duplicatePossible`: the provider left behind may already hold the message (its last try got no answer). */
  async function recordFailover(messageId: string, from: string, to: string, duplicatePossible: boolean): Promise<void> {
    await db.messageEvent.create({
      data: { messageId, type: 'failover', provider: to, detail: { from, ...(duplicatePossible ? { duplicate_possible: true } : {}) } },
    });
  }

  /** Outside any try: failing to record the provider's answer is our failure, never a failed attempt (which could send again). */
  async function recordSent(
    message: { id: string; channel: 'email' | 'sms'; createdAt: Date },
    provider: string,
    sent: SentOutcome,
    outgoing: OutgoingEmail | OutgoingSms,
    codeBearing: boolean,
  ): Promise<void> {
    const sentAt = now();
    await db.$transaction([
      db.message.update({
        // As in finish(): a stale run cannot overwrite a message another run has already settled.
        where: { id: message.id, status: { in: IN_FLIGHT } },
        data: { status: 'sent', provider, providerMessageId: sent.providerMessageId, sentAt, lastError: null, leaseUntil: null, attempts: { increment: 1 } },
      }),
      db.messageEvent.create({
        data: { messageId: message.id, type: 'sent', provider, occurredAt: sentAt, detail: { provider_message_id: sent.providerMessageId, ...sent.detail } as never },
      }),
      db.messageContent.update({
        where: { messageId: message.id },
        data: { headers: 'headers' in outgoing ? outgoing.headers : undefined, ...(codeBearing ? { payload: Prisma.DbNull } : {}) },
      }),
    ]);
    metrics.messageOutcome({ status: 'sent', provider, channel: message.channel });
    metrics.sendAttempt({ provider, channel: message.channel, outcome: 'sent', acceptedToSentSeconds: (sentAt.getTime() - message.createdAt.getTime()) / 1000 });
    log.info({ message_id: message.id, provider, provider_message_id: sent.providerMessageId }, 'message sent');
  }

  /**
   * Called before a failed message's clear payload is dropped: its fallback becomes a message of its own, with
   * the same source and expiry. The external id makes a job that runs twice queue it once.
   */
  async function acceptFallback(
    message: { id: string; source: MessageSource; createdAt: Date; expiresAt: Date | null },
    payload: MessagePayload,
  ): Promise<void> {
    if (payload.channel !== 'sms' || !payload.fallback) return;
    if (message.expiresAt && now() >= message.expiresAt) return;
    const { fallback } = payload;
    try {
      const accepted = await messages.accept({
        source: message.source,
        externalId: `${message.id}:fallback`,
        template: fallback.template,
        recipient: fallback.recipient,
        payload: fallback.payload,
        secrets: fallback.secrets,
        codeBearing: message.expiresAt !== null,
        issuedAt: message.createdAt,
        maxAgeSeconds: message.expiresAt ? (message.expiresAt.getTime() - message.createdAt.getTime()) / 1000 : 0,
        receivedDetail: { fallback_for: message.id },
      });
      if (!accepted.duplicate) {
        await db.messageEvent.create({
          data: { messageId: message.id, type: 'fallback', detail: { message_id: accepted.messageId, channel: fallback.payload.channel } },
        });
      }
    } catch (err) {
      // Recorded but not queued (Redis down) is picked up by the sweeper; anything else is logged and the SMS fails.
      log.warn({ message_id: message.id, err: String(err) }, 'could not accept the fallback message');
    }
  }

  return { finish, releaseForRetry, claim, recordQueued, recordFailedAttempt, recordFailover, recordSent, acceptFallback };
}
