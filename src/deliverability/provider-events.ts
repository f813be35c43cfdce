import type { Db } from '../db/prisma';
import { shortHash } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { inMessageTrace } from '../lib/tracing';
import type { MessageStore } from '../delivery/message-store';
import { statusForReport, type ProviderReportDetail, type ReportedType } from '../delivery/timeline';
import type { Metrics } from '../metrics/metrics';
import type { ProviderEventType } from '../providers/types';
import { enqueueClerkWriteback, type Queues } from '../queue/catalog';
import { createProviderEventIntake, type StoredEvent } from './provider-event-intake';
import type { SuppressionReason, SuppressionService } from './suppressions';

/**
 * Provider delivery events, in two steps. `receive` (on the webhook request, provider-event-intake.ts) stores
 * the verified event and queues it: nothing heavy before the 2xx. `apply` (a `provider-events` job) joins it
 * to our message, records it on the timeline once, moves the status forward only, and on a hard bounce, a
 * complaint or the provider's own suppression suppresses the recipient and queues the Clerk write-back.
 */

/**
 * After this long without finding its message, an event is recorded as unmatched and left alone. An event
 * that carries our message id (tag) is ours for sure and waits long; one without it may be about mail sent
 * by something else on the same provider account, so it gets an hour.
 */
export const UNMATCHED_AFTER_MS = 3 * 24 * 3600_000;
export const UNTAGGED_UNMATCHED_AFTER_MS = 3600_000;
/** Thrown by `apply` while the event's message is not (yet) known: the job retries with backoff. */
export class MessageNotFoundYetError extends Error {}

export type ApplyOutcome = 'applied' | 'duplicate' | 'unmatched' | 'already_processed';

export interface ProviderEventsDeps {
  db: Db;
  store: Pick<MessageStore, 'applyProviderEvent'>;
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

/** The report as the timeline keeps it: our ids and the provider's, the bounce, the provider's own detail. */
function reportDetail(row: ProviderEventRow, stored: StoredEvent, flag: Record<string, string>): ProviderReportDetail {
  return {
    provider_type: stored.provider_type,
    provider_event_id: row.eventId,
    provider_message_id: row.providerMessageId,
    ...(stored.bounce
      ? {
          bounce_kind: stored.bounce.kind,
          bounce_type: stored.bounce.type,
          bounce_sub_type: stored.bounce.subType,
          diagnostic: stored.bounce.diagnostic,
        }
      : {}),
    ...stored.detail,
    ...flag,
  };
}

type ProviderEventRow = NonNullable<Awaited<ReturnType<Db['providerEvent']['findUnique']>>>;

/** An address that cannot take mail is suppressed here too, and Clerk is told. */
async function suppressRecipient(
  { suppressions, queues }: Pick<ProviderEventsDeps, 'suppressions' | 'queues'>,
  row: ProviderEventRow,
  stored: StoredEvent,
  message: { id: string; channel: string; recipient: string },
  failure: string | null,
): Promise<void> {
  const type = row.type as ProviderEventType;
  const reason = suppressionReason(type, stored);
  if (!reason || message.channel !== 'email') return;
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

/** The message a report is about: by the provider's id for it, else by our id in its tags. */
async function findMessage(db: Db, providerMessageId: string | null, messageId: string | null) {
  const select = {
    id: true,
    status: true,
    provider: true,
    channel: true,
    recipient: true,
    createdAt: true,
    sentAt: true,
    traceparent: true,
  } as const;
  if (providerMessageId) {
    const byProviderId = await db.message.findFirst({ where: { providerMessageId }, select });
    if (byProviderId) return byProviderId;
  }
  if (messageId) return db.message.findUnique({ where: { id: messageId }, select });
  return null;
}
type MatchedMessage = NonNullable<Awaited<ReturnType<typeof findMessage>>>;

export function createProviderEvents(deps: ProviderEventsDeps) {
  const { db, store, queues, metrics, log } = deps;
  const now = deps.now ?? (() => new Date());
  const intake = createProviderEventIntake({ db, queues, log, now });

  async function markProcessed(id: string, outcome: ApplyOutcome, messageId: string | null): Promise<void> {
    await db.providerEvent.update({ where: { id }, data: { processedAt: now(), outcome, messageId } });
  }

  /**
   * Records the report on the message's timeline (once) through the message store, which moves the status
   * forward only and only for the provider that sent it. 'duplicate': recorded by an earlier run of this job
   * that stopped before the end; only the follow-ups remain.
   */
  async function record(row: ProviderEventRow, stored: StoredEvent, message: MatchedMessage, applies: boolean) {
    const type = row.type as ReportedType;
    const failure = describeFailure(type, stored, row.provider);
    const { at, flag } = timelineTime(
      row.occurredAt,
      applies ? { at: message.sentAt, what: 'sent' } : { at: message.createdAt, what: 'accepted' },
    );
    const { outcome, moved } = await store.applyProviderEvent(message, {
      type,
      provider: row.provider,
      at,
      dedupeKey: dedupeKey(row.provider, row.eventId),
      detail: reportDetail(row, stored, flag),
      bounceKind: stored.bounce?.kind,
      failure,
    });
    if (moved) metrics.messageOutcome({ status: moved, provider: row.provider, channel: message.channel });
    if (outcome === 'applied' && type === 'delivered' && applies && message.sentAt) {
      metrics.delivered({
        provider: row.provider,
        channel: message.channel,
        sentToDeliveredSeconds: (at.getTime() - message.sentAt.getTime()) / 1000,
      });
    }
    return { outcome, failure };
  }

  async function apply(providerEventId: string): Promise<ApplyOutcome> {
    const row = await db.providerEvent.findUnique({ where: { id: providerEventId } });
    if (!row || row.processedAt) return 'already_processed';
    const stored = row.payload as unknown as StoredEvent;
    const eventLog = log.child({ provider: row.provider, provider_event_id: row.id, event_type: row.type });

    const message = await findMessage(db, row.providerMessageId, stored.message_id);
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
    const attributes = { 'auth_relay.message_id': message.id, 'auth_relay.provider': row.provider, 'auth_relay.event_type': row.type };
    return inMessageTrace(message.traceparent, 'provider_event apply', attributes, () => applyToMessage(row, stored, eventLog, message));
  }

  /** `apply` once the event's message is found and sent. */
  async function applyToMessage(
    row: ProviderEventRow,
    stored: StoredEvent,
    eventLog: Logger,
    message: MatchedMessage,
  ): Promise<ApplyOutcome> {
    // Only the provider that sent the message speaks for it. An event from another one (about an attempt before
    // a failover, or joined by our tag to a message the outbox "sent") goes on the timeline and changes
    // nothing: not the status, not the suppression list.
    const applies = message.provider === row.provider;
    const { outcome, failure } = await record(row, stored, message, applies);
    if (applies) await suppressRecipient(deps, row, stored, message, failure);
    await markProcessed(row.id, outcome, message.id);
    const status = applies ? statusForReport(row.type as ProviderEventType) : undefined;
    eventLog.info({ message_id: message.id, outcome, status }, 'provider event applied');
    return outcome;
  }

  return { receive: intake.receive, apply, requeueStale: intake.requeueStale };
}
