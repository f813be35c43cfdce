import { isStorableDate, MAX_KEY_CHARS, toStorable } from '../db/storable';
import type { Db } from '../db/prisma';
import type { ProviderEvent } from '../generated/prisma/client';
import type { MessageStatus } from '../generated/prisma/enums';
import { DependencyUnavailableError } from '../lib/errors';
import { newId, shortHash } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { inMessageTrace, injectTraceContext } from '../lib/tracing';
import type { Metrics } from '../metrics/metrics';
import type { BounceDetail, ProviderEventType, ProviderWebhookEvent } from '../providers/types';
import { providerEventJobId, requeueJob, type Queues } from '../queue/queues';
import { enqueueClerkWriteback } from './clerk-writeback';
import type { SuppressionReason, SuppressionService } from './suppressions';

/**
 * Provider delivery events, in two steps. `receive` (on the webhook request) stores the verified event and
 * queues it: nothing heavy before the 2xx. `apply` (a `provider-events` job) joins it to our message,
 * records it on the timeline once, moves the status forward only, and on a hard bounce, a complaint or the
 * provider's own suppression suppresses the recipient and queues the Clerk write-back.
 */

/** How far each status is along a message's life. An event never moves a message back. */
const STATUS_RANK: Record<MessageStatus, number> = {
  queued: 0,
  sending: 0,
  expired: 0,
  sent: 1,
  delayed: 2,
  failed: 3,
  delivered: 4,
  suppressed: 5,
  bounced: 5,
  complained: 6,
};

const STATUS_FOR: Partial<Record<ProviderEventType, MessageStatus>> = {
  sent: 'sent',
  delivered: 'delivered',
  delivery_delayed: 'delayed',
  bounced: 'bounced',
  complained: 'complained',
  failed: 'failed',
  suppressed: 'suppressed',
};

/** Statuses a given status may replace: strictly earlier ones (an expired message was never sent). */
export function statusesBefore(status: MessageStatus): MessageStatus[] {
  return (Object.keys(STATUS_RANK) as MessageStatus[]).filter((s) => STATUS_RANK[s] < STATUS_RANK[status] && s !== 'expired');
}

/**
 * After this long without finding its message, an event is recorded as unmatched and left alone. An event
 * that carries our message id (tag) is ours for sure and waits long; one without it may be about mail sent
 * by something else on the same provider account, so it gets an hour.
 */
export const UNMATCHED_AFTER_MS = 3 * 24 * 3600_000;
export const UNTAGGED_UNMATCHED_AFTER_MS = 3600_000;
/** An unprocessed event older than this has lost its job (Redis was down, retries ran out): queue it again. */
const STALE_AFTER_MS = 60_000;

interface StoredEvent {
  provider_type: string;
  message_id: string | null;
  recipient: string | null;
  bounce: BounceDetail | null;
  detail: Record<string, unknown>;
  raw: unknown;
}

/**
 * A provider retries what it cannot deliver, so an event Postgres would refuse must still be recorded: text it
 * cannot hold becomes U+FFFD, an id too long for its index is kept as its hash (the event id, still the same
 * on every retry) or not at all (a provider message id that long is none we stored), a time it cannot hold is
 * the time of receipt. The raw body keeps what was sent.
 */
function storableEvent(received: ProviderWebhookEvent, receivedAt: Date): ProviderWebhookEvent {
  const event = toStorable(received);
  return {
    ...event,
    eventId: event.eventId.length > MAX_KEY_CHARS ? `sha256:${shortHash(event.eventId)}` : event.eventId,
    providerMessageId: event.providerMessageId && event.providerMessageId.length > MAX_KEY_CHARS ? null : event.providerMessageId,
    occurredAt: isStorableDate(event.occurredAt) ? event.occurredAt : receivedAt,
  };
}

/** Thrown by `apply` while the event's message is not (yet) known: the job retries with backoff. */
export class MessageNotFoundYetError extends Error {}

export type ApplyOutcome = 'applied' | 'duplicate' | 'unmatched' | 'already_processed';

export interface ProviderEventsDeps {
  db: Db;
  queues: Pick<Queues, 'providerEvents' | 'clerkWriteback'>;
  suppressions: Pick<SuppressionService, 'suppress'>;
  metrics: Pick<Metrics, 'delivered' | 'messageOutcome'>;
  log: Logger;
  now?: () => Date;
}

export type ProviderEvents = ReturnType<typeof createProviderEvents>;

const dedupeKey = (provider: string, eventId: string): string => `${provider}:${eventId}`;

function describeFailure(type: ProviderEventType, stored: StoredEvent, provider: string): string | null {
  if (type === 'bounced' && stored.bounce) {
    const what = [stored.bounce.type, stored.bounce.subType].filter(Boolean).join('/');
    return `${stored.bounce.kind} bounce${what ? ` (${what})` : ''}${stored.bounce.diagnostic ? `: ${stored.bounce.diagnostic}` : ''}`;
  }
  if (type === 'complained') return 'the recipient marked the message as spam';
  if (type === 'failed') return `provider could not send it${stored.detail.reason ? `: ${String(stored.detail.reason)}` : ''}`;
  if (type === 'suppressed') {
    const kind = stored.detail.suppression_type ? ` (${String(stored.detail.suppression_type)})` : '';
    return `not sent: the address is on ${provider}'s suppression list${kind}${stored.detail.message ? `: ${String(stored.detail.message)}` : ''}`;
  }
  return null;
}

/**
 * Whether the event says the address cannot take mail: a hard bounce, a complaint, or the provider's own
 * suppression list (Resend `email.suppressed`: it saw a bounce or complaint earlier, team-wide). Suppressing
 * it here too keeps the failover provider from being sent to it and lets Clerk know. A provider suppression is
 * named as one unless the provider says it came from a bounce or a complaint.
 */
function suppressionReason(type: ProviderEventType, stored: StoredEvent): SuppressionReason | null {
  if (type === 'complained') return 'complaint';
  if (type === 'bounced' && stored.bounce?.kind === 'hard') return 'hard_bounce';
  if (type !== 'suppressed') return null;
  if (stored.detail.reason === 'previous_complaint') return 'complaint';
  if (stored.detail.reason === 'previous_bounce') return 'hard_bounce';
  return 'provider_suppression';
}

/**
 * The time to put on the timeline: the provider's, unless it precedes our send (or, for an event that does not
 * apply, our accepting the message): a clock off, or a documentation example. Then our time, with the
 * provider's kept beside it, so no latency comes out negative.
 */
function timelineTime(providerTime: Date, floor: { at: Date | null; what: string }): { at: Date; flag: Record<string, string> } {
  if (!floor.at || providerTime >= floor.at) return { at: providerTime, flag: {} };
  return { at: floor.at, flag: { provider_time: providerTime.toISOString(), provider_time_before: floor.what } };
}

export function createProviderEvents({ db, queues, suppressions, metrics, log, now = () => new Date() }: ProviderEventsDeps) {
  async function enqueue(id: string): Promise<void> {
    await queues.providerEvents.add('apply', injectTraceContext({ providerEventId: id }), { jobId: providerEventJobId(id) });
  }

  /** Stores the verified event (once per provider event id) and queues it. Answers before any heavy work. */
  async function receive(received: ProviderWebhookEvent): Promise<{ id: string; duplicate: boolean }> {
    const event = storableEvent(received, now());
    const stored: StoredEvent = {
      provider_type: event.providerType,
      message_id: event.messageId,
      recipient: event.recipient,
      bounce: event.bounce ?? null,
      detail: event.detail,
      raw: event.raw,
    };
    const ignored = event.type === 'unknown';
    const id = newId('pev');
    let inserted: number;
    try {
      ({ count: inserted } = await db.providerEvent.createMany({
        data: [
          {
            id,
            provider: event.provider,
            eventId: event.eventId,
            type: event.type,
            providerMessageId: event.providerMessageId,
            occurredAt: event.occurredAt,
            payload: stored as never,
            // An event type we do not act on is kept for the record and needs no job.
            ...(ignored ? { processedAt: now(), outcome: 'ignored' } : {}),
          },
        ],
        skipDuplicates: true,
      }));
    } catch (err) {
      throw new DependencyUnavailableError('Database unavailable; retry later', err);
    }
    const row =
      inserted === 1
        ? { id, processedAt: ignored ? now() : null }
        : await db.providerEvent.findUniqueOrThrow({
            where: { provider_eventId: { provider: event.provider, eventId: event.eventId } },
            select: { id: true, processedAt: true },
          });
    // A repeat of an event not yet applied (its first delivery may have been answered 503) is queued again.
    if (!row.processedAt) {
      try {
        await enqueue(row.id);
      } catch (err) {
        log.warn({ provider_event_id: row.id, err: String(err) }, 'could not queue provider event; maintenance will retry');
        throw new DependencyUnavailableError('Queue unavailable; the event is recorded, retry later', err);
      }
    }
    return { id: row.id, duplicate: inserted === 0 };
  }

  async function findMessage(providerMessageId: string | null, messageId: string | null) {
    const select = { id: true, status: true, provider: true, channel: true, recipient: true, createdAt: true, sentAt: true, traceparent: true } as const;
    if (providerMessageId) {
      const byProviderId = await db.message.findFirst({ where: { providerMessageId }, select });
      if (byProviderId) return byProviderId;
    }
    if (messageId) return db.message.findUnique({ where: { id: messageId }, select });
    return null;
  }

  async function markProcessed(id: string, outcome: ApplyOutcome, messageId: string | null): Promise<void> {
    await db.providerEvent.update({ where: { id }, data: { processedAt: now(), outcome, messageId } });
  }

  async function apply(providerEventId: string): Promise<ApplyOutcome> {
    const row = await db.providerEvent.findUnique({ where: { id: providerEventId } });
    if (!row || row.processedAt) return 'already_processed';
    const stored = row.payload as unknown as StoredEvent;
    const type = row.type as ProviderEventType;
    const eventLog = log.child({ provider: row.provider, provider_event_id: row.id, event_type: type });

    const message = await findMessage(row.providerMessageId, stored.message_id);
    // Until our own `sent` write has landed, applying the event would be overwritten by it: wait for it.
    if (!message || message.status === 'queued' || message.status === 'sending') {
      const patience = stored.message_id ? UNMATCHED_AFTER_MS : UNTAGGED_UNMATCHED_AFTER_MS;
      const joinable = row.providerMessageId !== null || stored.message_id !== null;
      if (!joinable || now().getTime() - row.receivedAt.getTime() > patience) {
        eventLog.warn({ provider_message_id: row.providerMessageId }, 'provider event never matched a message; given up');
        await markProcessed(row.id, 'unmatched', message?.id ?? null);
        return 'unmatched';
      }
      throw new MessageNotFoundYetError(`no sent message for ${row.provider} event ${row.eventId} yet`);
    }
    const attributes = { 'auth_relay.message_id': message.id, 'auth_relay.provider': row.provider, 'auth_relay.event_type': type };
    return inMessageTrace(message.traceparent, 'provider_event apply', attributes, () => applyToMessage(row, stored, type, eventLog, message));
  }

  /** `apply` once the event's message is found and sent. */
  async function applyToMessage(
    row: ProviderEvent,
    stored: StoredEvent,
    type: ProviderEventType,
    eventLog: Logger,
    message: NonNullable<Awaited<ReturnType<typeof findMessage>>>,
  ): Promise<ApplyOutcome> {
    // Only the provider that sent the message speaks for it. An event from another one (about an attempt before
    // a failover, or joined by our tag to a message the outbox "sent") goes on the timeline and changes
    // nothing: not the status, not the suppression list.
    const applies = message.provider === row.provider;
    const newStatus = applies ? STATUS_FOR[type] : undefined;
    const failure = describeFailure(type, stored, row.provider);
    const { at, flag } = timelineTime(row.occurredAt, applies ? { at: message.sentAt, what: 'sent' } : { at: message.createdAt, what: 'accepted' });
    // A soft bounce reported after delivery (an asynchronous "mailbox full") is recorded, but the message was
    // delivered and stays so; a hard bounce after delivery does move it on.
    const replaceable = !newStatus
      ? []
      : type === 'bounced' && stored.bounce?.kind !== 'hard'
        ? statusesBefore('delivered')
        : statusesBefore(newStatus);
    let outcome: ApplyOutcome = 'applied';
    try {
      const [, statusChange] = await db.$transaction([
        db.messageEvent.create({
          data: {
            messageId: message.id,
            type,
            provider: row.provider,
            occurredAt: at,
            dedupeKey: dedupeKey(row.provider, row.eventId),
            detail: {
              provider_type: stored.provider_type,
              provider_event_id: row.eventId,
              provider_message_id: row.providerMessageId,
              ...(stored.bounce
                ? { bounce_kind: stored.bounce.kind, bounce_type: stored.bounce.type, bounce_sub_type: stored.bounce.subType, diagnostic: stored.bounce.diagnostic }
                : {}),
              ...stored.detail,
              ...flag,
              ...(applies ? {} : { not_applied: `the message was sent by ${message.provider ?? 'no provider'}, not ${row.provider}` }),
            } as never,
          },
        }),
        ...(newStatus
          ? [
              db.message.updateMany({
                where: { id: message.id, status: { in: replaceable } },
                data: { status: newStatus, ...(failure ? { lastError: failure } : {}) },
              }),
            ]
          : []),
        ...(type === 'delivered' && newStatus
          ? [db.message.updateMany({ where: { id: message.id, deliveredAt: null }, data: { deliveredAt: at } })]
          : []),
      ]);
      if (newStatus && statusChange && 'count' in statusChange && statusChange.count > 0) {
        metrics.messageOutcome({ status: newStatus, provider: row.provider, channel: message.channel });
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'P2002') throw err;
      // Recorded by an earlier run of this job that stopped before the end: only the follow-ups remain.
      outcome = 'duplicate';
    }

    if (outcome === 'applied' && type === 'delivered' && newStatus && message.sentAt) {
      metrics.delivered({
        provider: row.provider,
        channel: message.channel,
        sentToDeliveredSeconds: (at.getTime() - message.sentAt.getTime()) / 1000,
      });
    }

    const reason = applies ? suppressionReason(type, stored) : null;
    if (reason && message.channel === 'email') {
      await suppressions.suppress({
        channel: 'email',
        recipient: message.recipient,
        reason,
        sourceMessageId: message.id,
        detail: {
          provider: row.provider,
          provider_event_id: row.eventId,
          ...(type === 'suppressed' ? { provider_suppression: stored.detail } : {}),
          ...(failure ? { description: failure } : {}),
        },
      });
      await enqueueClerkWriteback(
        queues,
        { emailStatus: 'undeliverable', recipient: message.recipient, messageId: message.id, reason, at: row.occurredAt.toISOString() },
        `undeliverable-${shortHash(dedupeKey(row.provider, row.eventId))}`,
      );
    }
    await markProcessed(row.id, outcome, message.id);
    eventLog.info({ message_id: message.id, outcome, status: newStatus }, 'provider event applied');
    return outcome;
  }

  /** Queues again every stored event still waiting after its job gave up or was lost. */
  async function requeueStale(): Promise<number> {
    const stale = await db.providerEvent.findMany({
      where: { processedAt: null, receivedAt: { lt: new Date(now().getTime() - STALE_AFTER_MS) } },
      select: { id: true },
      orderBy: { receivedAt: 'asc' },
      take: 500,
    });
    let requeued = 0;
    for (const { id } of stale) {
      const result = await requeueJob(queues.providerEvents, providerEventJobId(id), () => enqueue(id));
      if (result !== 'alive') requeued += 1;
    }
    return requeued;
  }

  return { receive, apply, requeueStale };
}
