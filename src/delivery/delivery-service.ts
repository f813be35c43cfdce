import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { SuppressionLookup } from './suppression-lookup';
import type { MessageStatus } from '../generated/prisma/enums';
import { DependencyUnavailableError } from '../lib/errors';
import { unreachable } from '../providers/error-policy';
import type { Logger } from '../lib/logger';
import { normalizeRecipient } from '../lib/recipient';
import type { Metrics } from '../metrics/metrics';
import type { ProviderHealth } from '../providers/provider-health';
import type { OutgoingEmail, OutgoingSms, Provider, ProviderChains, ProviderOutcome } from '../providers/types';
import type { FailureRun, SendJobData, SkipRuns } from '../queue/catalog';
import type { MessagePayload } from './content';
import type { MessageService } from './message-service';
import type { ActiveSuppression, MessageStore, SendableMessage, SendClaim } from './message-store';
import { buildOutgoing } from './outgoing';
import {
  answerBy,
  decideAfterAttempt,
  decideAtChainEnd,
  type AttemptResult,
  type ChainPosition,
  type DecisionContext,
  type PassedBy,
} from './send-decision';
import { createSendRecords, type SendRecords } from './send-records';
import { createSkipLog, type SkipLog } from './skip-log';

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
  | {
      kind: 'retry';
      delayMs: number;
      state: { providerIndex: number; providerAttempts: number; providerUnanswered?: boolean; skips?: SkipRuns; failures?: FailureRun };
    };

export interface DeliveryDeps {
  db: Db;
  /** Every status change and timeline event of a send goes through it. */
  store: MessageStore;
  providers: ProviderChains;
  /** A suppressed recipient (hard bounce, complaint, by hand) is never sent to. */
  suppressions: SuppressionLookup;
  /** Circuit, pause and rate limit per provider, shared by every worker process. */
  health: Pick<ProviderHealth, 'call'>;
  config: Pick<
    Config,
    'PROVIDER_ATTEMPTS' | 'PROVIDER_TIMEOUT_MS' | 'PROVIDER_MAX_PAUSE_SECONDS' | 'EMAIL_FROM' | 'EMAIL_FROM_DOMAIN' | 'EMAIL_FROM_NAME'
  >;
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

/** How long a message without a code is retried on its last provider (Postal and Knock give up after about a day). */
const NON_CODE_RETRY_MS = 24 * 60 * 60 * 1000;

const finished = (status: MessageStatus | 'missing'): SendOutcome => ({ kind: 'finished', status });

const retryLater = (delayMs: number, position: ChainPosition, carried: { skips?: SkipRuns; failures?: FailureRun } = {}): SendOutcome => ({
  kind: 'retry',
  delayMs,
  state: {
    providerIndex: position.index,
    providerAttempts: position.attempts,
    providerUnanswered: position.unanswered || undefined,
    skips: carried.skips,
    failures: carried.failures,
  },
});

/** Where in the chain the job's earlier runs left the message: `retryLater`'s state read back. */
const positionOf = (job: SendJobData): ChainPosition => ({
  index: job.providerIndex ?? 0,
  attempts: job.providerAttempts ?? 0,
  unanswered: job.providerUnanswered ?? false,
});

const next = (position: ChainPosition): ChainPosition => ({ index: position.index + 1, attempts: 0, unanswered: false });

/** An adapter that threw (a bug) instead of answering: retried like a network error, saying what it was. */
const thrownAsRetry = (err: unknown): ProviderOutcome => ({
  kind: 'retry',
  message: err instanceof Error ? err.message : String(err),
  status: null,
  raw: String(err),
  unanswered: false,
});

/** What a send run works with: the service's dependencies, defaults filled in, and its send records. */
interface SendRun extends Required<Omit<DeliveryDeps, 'messages'>> {
  records: SendRecords;
}

function decisionContext(run: SendRun, message: SendableMessage, payload: MessagePayload, chain: Provider[]): DecisionContext {
  const { now, config, random } = run;
  return {
    now: now().getTime(),
    worthSendingUntil: message.expiresAt?.getTime() ?? message.createdAt.getTime() + NON_CODE_RETRY_MS,
    expiresAt: message.expiresAt?.getTime() ?? null,
    chainLength: chain.length,
    hasFallback: payload.channel === 'sms' && Boolean(payload.fallback),
    maxAttempts: config.PROVIDER_ATTEMPTS,
    attemptMs: config.PROVIDER_TIMEOUT_MS,
    maxPauseMs: config.PROVIDER_MAX_PAUSE_SECONDS * 1000,
    jitter: random(),
  };
}

/** One call to one provider through its gate: what it answered, or why the gate skipped it. */
async function attempt(
  run: SendRun,
  message: SendableMessage,
  provider: Provider,
  outgoing: OutgoingEmail | OutgoingSms,
  skips: SkipLog,
  deadline: number,
): Promise<AttemptResult | { kind: 'sent'; sent: Extract<ProviderOutcome, { kind: 'sent' }> }> {
  const { health, log, records, metrics, now } = run;
  let gate: Awaited<ReturnType<ProviderHealth['call']>>;
  try {
    gate = await health.call(provider.name, () => (provider.send as (m: typeof outgoing) => Promise<ProviderOutcome>)(outgoing), deadline);
  } catch (err) {
    if (err instanceof DependencyUnavailableError) {
      // Our Redis, not the provider: no attempt spent, nothing on the provider's record. The job is retried.
      log.warn(
        { message_id: message.id, provider: provider.name, err: String(err.cause) },
        'provider gate unavailable (Redis); send postponed',
      );
      await records.releaseForRetry(message.id);
      throw err;
    }
    gate = { ok: true, value: thrownAsRetry(err) };
  }
  if (!gate.ok) {
    await skips.record(provider.name, gate.reason, gate.retryInMs, now());
    metrics.providerSkipped({ provider: provider.name, channel: message.channel, reason: gate.reason });
    log.info({ message_id: message.id, provider: provider.name, reason: gate.reason, retry_in_ms: gate.retryInMs }, 'provider skipped');
    return { kind: 'skipped', reason: gate.reason, retryInMs: gate.retryInMs };
  }
  if (gate.value.kind === 'sent') return { kind: 'sent', sent: gate.value };
  return { kind: 'answered', failure: gate.value };
}

/** Choose, attempt, record, decide: provider after provider until one sends it or the decision stops. */
async function sendThroughChain(
  run: SendRun,
  message: SendableMessage,
  payload: MessagePayload,
  job: SendJobData,
  skips: SkipLog,
): Promise<SendOutcome> {
  const { config, providers, records } = run;
  const codeBearing = message.expiresAt !== null;
  const outgoing = buildOutgoing(config, message, payload);
  const chain: Provider[] = message.channel === 'email' ? providers.email : providers.sms;
  let position = positionOf(job);
  let lastError = 'no provider configured for this channel';
  let passedBy: PassedBy | undefined;
  let failures = job.failures;
  const fail = async (reason: string): Promise<SendOutcome> => {
    await records.acceptFallback(message, payload);
    await records.finish(message.id, 'failed', reason, codeBearing);
    return finished('failed');
  };

  while (position.index < chain.length) {
    const provider = chain[position.index]!;
    const ctx = decisionContext(run, message, payload, chain);
    const result = await attempt(run, message, provider, outgoing, skips, answerBy(ctx));
    if (result.kind === 'sent') {
      await records.recordSent(message, provider.name, result.sent, outgoing, codeBearing);
      return finished('sent');
    }
    if (result.kind === 'answered') {
      lastError = `${provider.name}: ${result.failure.message}`;
      const pastAttempts = position.attempts >= config.PROVIDER_ATTEMPTS;
      failures = await records.recordFailedAttempt(message, provider.name, result.failure, pastAttempts, failures);
    }
    const action = decideAfterAttempt(ctx, position, result);
    switch (action.kind) {
      case 'retry':
        await records.releaseForRetry(message.id);
        // Still waiting for a provider that skipped it: its skip runs go on counting in the job.
        return retryLater(action.delayMs, action.position, result.kind === 'skipped' ? { skips: skips.runs() } : { failures });
      case 'fail':
        return fail(lastError);
      case 'pass_by':
        if (!passedBy) passedBy = { position, retryInMs: action.retryInMs, allDown: action.down };
        else
          passedBy = { ...passedBy, retryInMs: Math.min(passedBy.retryInMs, action.retryInMs), allDown: passedBy.allDown && action.down };
        position = next(position);
        break;
      case 'fail_over':
        position = next(position);
        if (position.index < chain.length) {
          await records.recordFailover(message.id, provider.name, chain[position.index]!.name, action.duplicatePossible);
        }
        break;
      default:
        return unreachable(action);
    }
  }

  const end = decideAtChainEnd(decisionContext(run, message, payload, chain), passedBy);
  switch (end.kind) {
    case 'wait':
      // No provider can take it right now: come back when the first one may, without spending an attempt.
      await records.releaseForRetry(message.id);
      return retryLater(end.delayMs, end.position, { skips: skips.runs() });
    case 'fall_back':
      return fail('every SMS provider is unavailable (circuit open); falling back to email');
    case 'fail':
      return fail(`every provider failed; last: ${lastError}`);
    default:
      return unreachable(end);
  }
}

/**
 * The suppression in force for the claimed message's recipient. The claim looked it up by the recipient as
 * stored; one stored in another form than today's normalization (an older release's) is looked up as before.
 */
async function suppressionOf({ suppressions }: SendRun, claim: SendClaim): Promise<ActiveSuppression | null> {
  const { channel, recipient } = claim.message;
  if (normalizeRecipient(channel, recipient).recipient === recipient) return claim.suppression;
  return suppressions.active(channel, recipient);
}

/** Load and claim (one statement), check expiry and suppression; then the provider chain. */
async function sendOnce(run: SendRun, job: SendJobData, skips: SkipLog, queuedAt?: Date): Promise<SendOutcome> {
  const { log, now, records, leaseMs } = run;
  const started = now();
  const claim = await records.claim(job.messageId, started, leaseMs, queuedAt ?? null);
  if (!claim) {
    log.warn({ message_id: job.messageId }, 'send job for unknown message dropped');
    return finished('missing');
  }
  const { message } = claim;
  if (TERMINAL_STATUSES.includes(message.status)) return finished(message.status);
  const codeBearing = message.expiresAt !== null;
  if (message.expiresAt && started >= message.expiresAt) {
    await records.finish(message.id, 'expired', 'the code expired before it could be sent', true);
    return finished('expired');
  }
  if (!claim.claimed) return whenClaimedElsewhere(run, job, skips, started);

  const payload = message.content?.payload as MessagePayload | null | undefined;
  const suppression = await suppressionOf(run, claim);
  if (suppression) {
    // The number cannot get the code; the email address it came with still can.
    if (payload) await records.acceptFallback(message, payload);
    await records.finish(message.id, 'suppressed', `recipient is suppressed (${suppression.reason})`, codeBearing, {
      suppression_id: suppression.id,
      suppression_reason: suppression.reason,
      source_message_id: suppression.sourceMessageId,
      expires_at: suppression.expiresAt?.toISOString() ?? null,
    });
    return finished('suppressed');
  }
  if (!payload) {
    await records.finish(message.id, 'failed', 'message content is no longer available', codeBearing);
    return finished('failed');
  }
  return sendThroughChain(run, message, payload, job, skips);
}

/** Another run holds the message: settled, or look again when its lease lapses. */
async function whenClaimedElsewhere({ db }: SendRun, job: SendJobData, skips: SkipLog, started: Date): Promise<SendOutcome> {
  const current = await db.message.findUnique({ where: { id: job.messageId }, select: { status: true, leaseUntil: true } });
  if (!current || TERMINAL_STATUSES.includes(current.status)) return finished(current?.status ?? 'missing');
  const wait = Math.max(500, (current.leaseUntil?.getTime() ?? started.getTime()) - started.getTime() + 100);
  return retryLater(wait, positionOf(job), { skips: skips.runs(), failures: job.failures });
}

/**
 * `queuedAt` is when the queue accepted this job; it becomes the message's `queued` event. A message still
 * waiting for a provider carries its skip runs to the next re-check; any other outcome ends them.
 */
async function processSend(run: SendRun, job: SendJobData, queuedAt?: Date): Promise<SendOutcome> {
  const { store, now } = run;
  const skips = createSkipLog(store, job.messageId, job.skips);
  const outcome = await sendOnce(run, job, skips, queuedAt);
  if (outcome.kind === 'retry' && outcome.state.skips) return outcome;
  await skips.settle(now());
  return outcome.kind === 'retry' ? { ...outcome, state: { ...outcome.state, skips: undefined } } : outcome;
}

/**
 * Sends one message through its channel's provider chain as a sequence of steps (load, check expiry, claim,
 * check suppression, then per provider: choose, attempt, record, decide). Each call makes progress and says
 * what to do next: finished, or come back after a delay (the worker turns that into a delayed job).
 */
export function createDeliveryService(deps: DeliveryDeps) {
  const now = deps.now ?? (() => new Date());
  const { store, log, metrics, messages } = deps;
  const run: SendRun = {
    ...deps,
    now,
    leaseMs: deps.leaseMs ?? 45_000,
    random: deps.random ?? Math.random,
    records: createSendRecords({ store, log, metrics, messages, now }),
  };
  return { processSend: (job: SendJobData, queuedAt?: Date) => processSend(run, job, queuedAt) };
}
