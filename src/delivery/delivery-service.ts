import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { SuppressionService } from '../deliverability/suppressions';
import type { MessageSource, MessageStatus } from '../generated/prisma/enums';
import { DependencyUnavailableError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import {
  ProviderError,
  type OutgoingEmail,
  type OutgoingSms,
  type Provider,
  type ProviderChains,
  type SendResult,
} from '../providers/types';
import type { GateResult, ProviderHealth } from '../providers/provider-health';
import type { SendJobData, SkipRuns } from '../queue/queues';
import type { EmailContent, MessagePayload } from './content';
import { resolveFrom, resolveReplyTo } from './from-address';
import type { MessageService } from './message-service';
import type { MessageStore } from './message-store';
import { createSkipLog } from './skip-log';

export const TERMINAL_STATUSES: readonly MessageStatus[] = [
  'sent',
  'delivered',
  'delayed',
  'bounced',
  'complained',
  'failed',
  'suppressed',
  'expired',
];

export type SendOutcome =
  | { kind: 'finished'; status: MessageStatus | 'missing' }
  | { kind: 'retry'; delayMs: number; state: { providerIndex: number; providerAttempts: number; skips?: SkipRuns } };

export interface DeliveryDeps {
  db: Db;
  /** Every status change and timeline event of a send goes through it. */
  store: MessageStore;
  providers: ProviderChains;
  /** A suppressed recipient (hard bounce, complaint, by hand) is never sent to. */
  suppressions: Pick<SuppressionService, 'active'>;
  /** Circuit, pause and rate limit per provider, shared by every worker process. */
  health: Pick<ProviderHealth, 'call'>;
  config: Pick<Config, 'PROVIDER_ATTEMPTS' | 'EMAIL_FROM' | 'EMAIL_FROM_DOMAIN' | 'EMAIL_FROM_NAME'>;
  log: Logger;
  metrics: Pick<Metrics, 'sendAttempt' | 'providerSkipped' | 'messageOutcome'>;
  /** Accepts a failed message's fallback (SMS code → email) as a message of its own. */
  messages: Pick<MessageService, 'accept'>;
  now?: () => Date;
  /** How long a worker holds a message while talking to providers (longer than one send run). */
  leaseMs?: number;
  random?: () => number;
}

export type DeliveryService = ReturnType<typeof createDeliveryService>;

/** Bounds on how long a message waits when every provider is skipped (re-checked at least this often). */
const MIN_SKIP_DELAY_MS = 200;
const MAX_SKIP_DELAY_MS = 30_000;

/** How long a message without a code is retried on its last provider (Postal and Knock give up after about a day). */
const NON_CODE_RETRY_MS = 24 * 60 * 60 * 1000;

/** A code until its expiry; anything else for a day after it was accepted. */
const worthSendingUntil = (message: { createdAt: Date; expiresAt: Date | null }): number =>
  message.expiresAt?.getTime() ?? message.createdAt.getTime() + NON_CODE_RETRY_MS;

/** The idempotency key every provider sees for a message: the same on every retry, from every process. */
export const idempotencyKeyFor = (messageId: string, generation = 0): string =>
  generation === 0 ? `auth-message/${messageId}` : `auth-message/${messageId}/retry-${generation}`;

/** Exponential backoff with full jitter (1 s, 3 s, 9 s … capped at 30 s), never sooner than the provider asked. */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, random: () => number): number {
  const ceiling = Math.min(30_000, 1_000 * 3 ** (attempt - 1));
  const backoff = Math.round(ceiling / 2 + (random() * ceiling) / 2);
  return Math.max(backoff, retryAfterMs ?? 0);
}

function toProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  // An adapter bug or an unexpected throw: retry it like a network error, but say what it was.
  return new ProviderError(err instanceof Error ? err.message : String(err), { class: 'transient', raw: String(err) });
}

/**
 * Sends one message through its channel's provider chain. Each call makes progress and says what to do
 * next: finished, or come back after a delay (the worker turns that into a delayed job).
 */
export function createDeliveryService(deps: DeliveryDeps) {
  const { db, store, providers, suppressions, health, metrics, config, log } = deps;
  const now = deps.now ?? (() => new Date());
  const leaseMs = deps.leaseMs ?? 45_000;
  const random = deps.random ?? Math.random;

  async function finish(
    messageId: string,
    status: Extract<MessageStatus, 'failed' | 'expired' | 'suppressed'>,
    reason: string,
    codeBearing: boolean,
    detail: Record<string, string | null> = {},
  ): Promise<SendOutcome> {
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
    return { kind: 'finished', status };
  }

  /** Hands the message back to the queue (only while it is still ours to send; see `store.release`). */
  async function releaseForRetry(messageId: string): Promise<void> {
    await store.release(messageId);
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
      const accepted = await deps.messages.accept({
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

  function buildOutgoing(
    message: { id: string; recipient: string; template: string | null; sendGeneration: number },
    payload: MessagePayload,
  ): OutgoingEmail | OutgoingSms {
    // Stable across automatic retries; an admin retry starts a new generation, which the provider sends anew.
    const idempotencyKey = idempotencyKeyFor(message.id, message.sendGeneration);
    if (payload.channel === 'sms') {
      return { messageId: message.id, to: message.recipient, body: payload.body, idempotencyKey };
    }
    const email: EmailContent = payload;
    return {
      messageId: message.id,
      to: message.recipient,
      from: resolveFrom(config, email),
      replyTo: resolveReplyTo(config, email),
      subject: email.subject,
      html: email.html,
      text: email.text,
      // A unique X-Entity-Ref-ID per message stops Gmail threading one code under the previous ones.
      headers: { 'X-Entity-Ref-ID': message.id },
      tags: [
        { name: 'message_id', value: message.id },
        { name: 'template', value: (message.template ?? 'none').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 256) },
      ],
      idempotencyKey,
    };
  }

  /**
   * `queuedAt` is when the queue accepted this job; it becomes the message's `queued` event. A message still
   * waiting for a provider carries its skip runs to the next re-check; any other outcome ends them.
   */
  async function processSend(job: SendJobData, queuedAt?: Date): Promise<SendOutcome> {
    const skips = createSkipLog(store, job.messageId, job.skips);
    const outcome = await sendOnce(job, skips, queuedAt);
    if (outcome.kind === 'retry' && outcome.state.skips) return outcome;
    await skips.settle(now());
    return outcome.kind === 'retry' ? { ...outcome, state: { ...outcome.state, skips: undefined } } : outcome;
  }

  async function sendOnce(job: SendJobData, skips: ReturnType<typeof createSkipLog>, queuedAt?: Date): Promise<SendOutcome> {
    const message = await store.loadForSend(job.messageId);
    if (!message) {
      log.warn({ message_id: job.messageId }, 'send job for unknown message dropped');
      return { kind: 'finished', status: 'missing' };
    }
    if (TERMINAL_STATUSES.includes(message.status)) return { kind: 'finished', status: message.status };
    const codeBearing = message.expiresAt !== null;
    const started = now();
    if (message.expiresAt && started >= message.expiresAt) {
      return finish(message.id, 'expired', 'the code expired before it could be sent', true);
    }

    const claimed = await store.claim(message.id, started, new Date(started.getTime() + leaseMs));
    if (!claimed) {
      const current = await db.message.findUnique({ where: { id: message.id }, select: { status: true, leaseUntil: true } });
      if (!current || TERMINAL_STATUSES.includes(current.status)) return { kind: 'finished', status: current?.status ?? 'missing' };
      // Another worker is sending it right now; look again when its lease lapses.
      const wait = Math.max(500, (current.leaseUntil?.getTime() ?? started.getTime()) - started.getTime() + 100);
      return {
        kind: 'retry',
        delayMs: wait,
        state: { providerIndex: job.providerIndex ?? 0, providerAttempts: job.providerAttempts ?? 0, skips: skips.runs() },
      };
    }

    if (queuedAt) await store.recordQueued(message.id, queuedAt);

    const suppression = await suppressions.active(message.channel, message.recipient);
    if (suppression) {
      // The number cannot get the code; the email address it came with still can.
      const held = message.content?.payload as MessagePayload | null | undefined;
      if (held) await acceptFallback(message, held);
      return finish(message.id, 'suppressed', `recipient is suppressed (${suppression.reason})`, codeBearing, {
        suppression_id: suppression.id,
        suppression_reason: suppression.reason,
        source_message_id: suppression.sourceMessageId,
        expires_at: suppression.expiresAt?.toISOString() ?? null,
      });
    }

    const payload = message.content?.payload as MessagePayload | null | undefined;
    if (!payload) return finish(message.id, 'failed', 'message content is no longer available', codeBearing);
    const outgoing = buildOutgoing(message, payload);
    const chain: Provider[] = message.channel === 'email' ? providers.email : providers.sms;
    const messageLog = log.child({ message_id: message.id });

    let index = job.providerIndex ?? 0;
    let attemptsOnProvider = job.providerAttempts ?? 0;
    let lastError = 'no provider configured for this channel';
    // Where to pick up if every provider left is skipped (circuit open, paused, saturated): the first skipped.
    let resume: { providerIndex: number; providerAttempts: number; delayMs: number; allDown: boolean } | undefined;
    while (index < chain.length) {
      const provider = chain[index]!;
      let attempt: GateResult<SendResult>;
      try {
        attempt = await health.call(provider.name, () =>
          (provider.send as (m: OutgoingEmail | OutgoingSms) => ReturnType<Provider['send']>)(outgoing),
        );
      } catch (err) {
        if (err instanceof DependencyUnavailableError) {
          // Our Redis, not the provider: no attempt spent, nothing on the provider's record. The job is retried.
          messageLog.warn({ provider: provider.name, err: String(err.cause) }, 'provider gate unavailable (Redis); send postponed');
          await releaseForRetry(message.id);
          throw err;
        }
        const error = toProviderError(err);
        lastError = `${provider.name}: ${error.message}`;
        await store.recordAttemptFailed(message.id, provider.name, lastError, {
          class: error.class,
          status: error.status ?? null,
          code: error.code ?? null,
          message: error.message,
          raw: error.raw ?? null,
        });
        metrics.sendAttempt({ provider: provider.name, channel: message.channel, outcome: error.class });
        messageLog.warn(
          { provider: provider.name, class: error.class, status: error.status, code: error.code, err: error.message },
          'send attempt failed',
        );

        if (error.pending) {
          // The provider already holds this message: ask it again for the answer (no attempt spent), and never
          // another provider, which would send a second code.
          const delayMs = retryDelayMs(1, error.retryAfterMs, random);
          await releaseForRetry(message.id);
          return { kind: 'retry', delayMs, state: { providerIndex: index, providerAttempts: attemptsOnProvider } };
        }
        if (error.class === 'transient') {
          attemptsOnProvider += 1;
          // With nowhere else to go (last provider, no fallback channel), PROVIDER_ATTEMPTS is no limit: the
          // message is retried with backoff for as long as it is worth sending.
          const lastResort = index === chain.length - 1 && !(payload.channel === 'sms' && payload.fallback);
          if (attemptsOnProvider < config.PROVIDER_ATTEMPTS || lastResort) {
            const delayMs = retryDelayMs(attemptsOnProvider, error.retryAfterMs, random);
            if (now().getTime() + delayMs < worthSendingUntil(message)) {
              await releaseForRetry(message.id);
              return { kind: 'retry', delayMs, state: { providerIndex: index, providerAttempts: attemptsOnProvider } };
            }
            // Waiting here would outlive the message: move on to the next provider now.
          }
        } else if (!error.failover) {
          await acceptFallback(message, payload);
          return finish(message.id, 'failed', lastError, codeBearing);
        }
        index += 1;
        attemptsOnProvider = 0;
        if (index < chain.length) {
          await store.recordFailover(message.id, chain[index]!.name, provider.name);
        }
        continue;
      }
      if (!attempt.ok) {
        await skips.record(provider.name, attempt.reason, attempt.retryInMs, now());
        metrics.providerSkipped({ provider: provider.name, channel: message.channel, reason: attempt.reason });
        messageLog.info({ provider: provider.name, reason: attempt.reason, retry_in_ms: attempt.retryInMs }, 'provider skipped');
        const down = attempt.reason === 'circuit_open';
        if (!resume) resume = { providerIndex: index, providerAttempts: attemptsOnProvider, delayMs: attempt.retryInMs, allDown: down };
        else {
          resume.delayMs = Math.min(resume.delayMs, attempt.retryInMs);
          resume.allDown &&= down;
        }
        index += 1;
        attemptsOnProvider = 0;
        continue;
      }
      // Outside the try: failing to record the provider's answer is our failure, not the provider's; it must
      // not count as a failed attempt (which could send again). It fails the job, which is retried.
      const result = attempt.value;
      const sentAt = now();
      const recorded = await store.markSent(message.id, {
        provider: provider.name,
        providerMessageId: result.providerMessageId,
        sentAt,
        detail: result.detail ?? {},
        headers: 'headers' in outgoing ? outgoing.headers : undefined,
        dropPayload: codeBearing,
      });
      // As in finish(): a stale run cannot overwrite a message another run has already settled.
      if (!recorded) throw new Error(`message ${message.id} was settled by another send run`);
      metrics.messageOutcome({ status: 'sent', provider: provider.name, channel: message.channel });
      metrics.sendAttempt({ provider: provider.name, channel: message.channel, outcome: 'sent', acceptedToSentSeconds: (sentAt.getTime() - message.createdAt.getTime()) / 1000 });
      messageLog.info({ provider: provider.name, provider_message_id: result.providerMessageId }, 'message sent');
      return { kind: 'finished', status: 'sent' };
    }
    if (resume?.allDown && payload.channel === 'sms' && payload.fallback) {
      // Every SMS provider is failing (circuits open): the code goes by email now rather than waiting, maybe
      // past its expiry, for SMS to recover. Busy or paused providers are waited for.
      await acceptFallback(message, payload);
      return finish(message.id, 'failed', 'every SMS provider is unavailable (circuit open); falling back to email', codeBearing);
    }
    if (resume) {
      // No provider can take it right now: come back when the first one may, without spending an attempt.
      // A code-bearing message comes back no later than its expiry, to be marked expired then.
      const untilExpiry = message.expiresAt ? message.expiresAt.getTime() - now().getTime() + 50 : Number.POSITIVE_INFINITY;
      const delayMs = Math.max(MIN_SKIP_DELAY_MS, Math.min(resume.delayMs, MAX_SKIP_DELAY_MS, untilExpiry));
      await releaseForRetry(message.id);
      return {
        kind: 'retry',
        delayMs,
        state: { providerIndex: resume.providerIndex, providerAttempts: resume.providerAttempts, skips: skips.runs() },
      };
    }
    await acceptFallback(message, payload);
    return finish(message.id, 'failed', `every provider failed; last: ${lastError}`, codeBearing);
  }

  return { processSend };
}
