import type { MessageSource, MessageStatus } from '../generated/prisma/enums';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { failureClass } from '../providers/error-policy';
import type { OutgoingEmail, OutgoingSms, ProviderFailure, SentOutcome } from '../providers/types';
import type { FailureRun } from '../queue/catalog';
import type { MessagePayload } from './content';
import type { MessageService } from './message-service';
import type { MessageStore } from './message-store';
import type { SendFailedDetail } from './timeline';

export interface SendRecordsDeps {
  /** Every status change and timeline event goes through it; this adds the metrics and logs around them. */
  store: MessageStore;
  log: Logger;
  metrics: Pick<Metrics, 'sendAttempt' | 'messageOutcome'>;
  /** Accepts a failed message's fallback (SMS code → email) as a message of its own. */
  messages: Pick<MessageService, 'accept'>;
  now: () => Date;
}

export type SendRecords = ReturnType<typeof createSendRecords>;

/** Ends the message `failed`, `expired` or `suppressed`; a code's clear content is dropped with it. */
async function finish(
  { store, metrics, log }: SendRecordsDeps,
  messageId: string,
  status: Extract<MessageStatus, 'failed' | 'expired' | 'suppressed'>,
  reason: string,
  codeBearing: boolean,
  detail: Record<string, string | null> = {},
): Promise<void> {
  const ended = { reason, ...detail };
  const settled =
    status === 'failed'
      ? await store.markFailed(messageId, ended, codeBearing)
      : status === 'expired'
        ? await store.expire(messageId, ended)
        : await store.suppress(messageId, ended, codeBearing);
  // Another run got there first (its lease had lapsed): the job is retried and finds the message settled.
  if (!settled) throw new Error(`message ${messageId} was settled by another send run`);
  metrics.messageOutcome({ status, provider: settled.provider, channel: settled.channel });
  log.warn({ message_id: messageId, status, reason }, `message ${status}`);
}

/**
 * One failed attempt. Past PROVIDER_ATTEMPTS (`coalesce`: the last provider's retries, which go on while the
 * code is valid) the same failure again only counts on the event of its run, as skips do (skip-log.ts), so
 * a long outage leaves one event per failure rather than one per retry. Returns the run to carry, if any.
 */
async function recordFailedAttempt(
  { store, metrics, log, now }: SendRecordsDeps,
  message: { id: string; channel: 'email' | 'sms' },
  provider: string,
  failure: ProviderFailure,
  coalesce: boolean,
  run: FailureRun | undefined,
): Promise<FailureRun | undefined> {
  const failureKind = failureClass(failure);
  const at = now().toISOString();
  const key = `${failure.kind}:${failure.status ?? ''}:${failure.code ?? ''}`;
  const lastError = `${provider}: ${failure.message}`;
  const detail: SendFailedDetail = {
    class: failureKind,
    outcome: failure.kind,
    status: failure.status ?? null,
    code: failure.code ?? null,
    message: failure.message,
    raw: failure.raw ?? null,
    ...(failure.kind === 'retry' && failure.unanswered ? { unanswered: true as const } : {}),
  };
  let next: FailureRun | undefined;
  if (coalesce && run && run.provider === provider && run.key === key) {
    next = { ...run, count: run.count + 1, lastAt: at };
    await store.recordRepeatedFailure(message.id, provider, lastError, run.eventId, {
      ...detail,
      count: next.count,
      first_at: next.firstAt,
      last_at: at,
    });
  } else {
    const eventId = await store.recordAttemptFailed(message.id, provider, lastError, detail);
    next = coalesce ? { eventId, provider, key, count: 1, firstAt: at, lastAt: at } : undefined;
  }
  metrics.sendAttempt({ provider, channel: message.channel, outcome: failureKind });
  log.warn(
    { message_id: message.id, provider, outcome: failure.kind, status: failure.status, code: failure.code, err: failure.message },
    'send attempt failed',
  );
  return next;
}

/** Outside any try: failing to record the provider's answer is our failure, never a failed attempt (which could send again). */
async function recordSent(
  { store, metrics, log, now }: SendRecordsDeps,
  message: { id: string; channel: 'email' | 'sms'; createdAt: Date },
  provider: string,
  sent: SentOutcome,
  outgoing: OutgoingEmail | OutgoingSms,
  codeBearing: boolean,
): Promise<void> {
  const sentAt = now();
  const recorded = await store.markSent(message.id, {
    provider,
    providerMessageId: sent.providerMessageId,
    sentAt,
    detail: sent.detail ?? {},
    headers: 'headers' in outgoing ? outgoing.headers : undefined,
    dropPayload: codeBearing,
  });
  // As in finish(): a stale run cannot overwrite a message another run has already settled.
  if (!recorded) throw new Error(`message ${message.id} was settled by another send run`);
  metrics.messageOutcome({ status: 'sent', provider, channel: message.channel });
  metrics.sendAttempt({
    provider,
    channel: message.channel,
    outcome: 'sent',
    acceptedToSentSeconds: (sentAt.getTime() - message.createdAt.getTime()) / 1000,
  });
  log.info({ message_id: message.id, provider, provider_message_id: sent.providerMessageId }, 'message sent');
}

/**
 * Called before a failed message's clear payload is dropped: its fallback becomes a message of its own, with
 * the same source and expiry. The external id makes a job that runs twice queue it once.
 */
async function acceptFallback(
  { messages, store, log, now }: SendRecordsDeps,
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
      await store.recordFallback(message.id, { message_id: accepted.messageId, channel: fallback.payload.channel });
    }
  } catch (err) {
    // Recorded but not queued (Redis down) is picked up by the sweeper; anything else is logged and the SMS fails.
    log.warn({ message_id: message.id, err: String(err) }, 'could not accept the fallback message');
  }
}

/** What the send path records about a message as it goes: through the store, with its metrics and log lines. */
export function createSendRecords(deps: SendRecordsDeps) {
  const { store } = deps;

  /** Hands the message back to the queue (only while it is still ours to send; see `store.release`). */
  async function releaseForRetry(messageId: string): Promise<void> {
    await store.release(messageId);
  }

  /**
   * Reads the message and takes it for this run (`sending`, under a lease) unless another run holds or settled
   * it, with the job's `queued` event and the recipient's suppression: one statement (store.claimForSend).
   */
  const claim = (messageId: string, at: Date, leaseMs: number, queuedAt: Date | null) =>
    store.claimForSend(messageId, at, new Date(at.getTime() + leaseMs), queuedAt);

  /** `duplicatePossible`: the provider left behind may already hold the message (its last try got no answer). */
  const recordFailover = (messageId: string, from: string, to: string, duplicatePossible: boolean): Promise<void> =>
    store.recordFailover(messageId, to, from, duplicatePossible);

  return {
    finish: (
      messageId: string,
      status: Extract<MessageStatus, 'failed' | 'expired' | 'suppressed'>,
      reason: string,
      codeBearing: boolean,
      detail?: Record<string, string | null>,
    ) => finish(deps, messageId, status, reason, codeBearing, detail),
    releaseForRetry,
    claim,
    recordFailedAttempt: (
      message: { id: string; channel: 'email' | 'sms' },
      provider: string,
      failure: ProviderFailure,
      coalesce: boolean,
      run: FailureRun | undefined,
    ) => recordFailedAttempt(deps, message, provider, failure, coalesce, run),
    recordFailover,
    recordSent: (
      message: { id: string; channel: 'email' | 'sms'; createdAt: Date },
      provider: string,
      sent: SentOutcome,
      outgoing: OutgoingEmail | OutgoingSms,
      codeBearing: boolean,
    ) => recordSent(deps, message, provider, sent, outgoing, codeBearing),
    acceptFallback: (message: { id: string; source: MessageSource; createdAt: Date; expiresAt: Date | null }, payload: MessagePayload) =>
      acceptFallback(deps, message, payload),
  };
}
