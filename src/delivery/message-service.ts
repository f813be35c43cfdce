import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import { databaseMessage, isDataError, MAX_KEY_CHARS, unstorable } from '../db/storable';
import type { MessageSource, MessageStatus } from '../generated/prisma/enums';
import { DependencyUnavailableError, ValidationError } from '../lib/errors';
import { newId } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { currentTraceparent, withTraceContext } from '../lib/tracing';
import { isRecipient, normalizeRecipient, RECIPIENT_EXPECTED, type RecipientChannel } from '../lib/recipient';
import { sendJob, type Queues } from '../queue/catalog';
import { addJobs } from '../queue/queues';
import { redactPayload, withSingleLineHeaders, type MessagePayload } from './content';
import type { AcceptedRow, MessageStore } from './message-store';
import { otpMaxAgeSeconds } from './otp-max-age';

export interface NewMessage {
  source: MessageSource;
  /** The source's id for this message; a second accept with the same one returns the first message. */
  externalId?: string;
  template?: string | null;
  recipient: string;
  userId?: string | null;
  payload: MessagePayload;
  /** Values to redact from everything we keep beyond the send (codes, magic links). */
  secrets: string[];
  /** Codes and links expire: such a message is marked expired rather than sent late. */
  codeBearing: boolean;
  /** When the source created the message; expiry counts from here. */
  issuedAt?: Date;
  /**
   * How long a code-bearing message may wait to be sent. Unset: the OTP max age for its channel
   * (OTP_MAX_AGE_SECONDS, SMS_OTP_MAX_AGE_SECONDS); a verification gives its own code's lifetime.
   */
  maxAgeSeconds?: number;
  /** Kept on the `received` event (e.g. the Svix message id). */
  receivedDetail?: Record<string, unknown>;
}

export interface AcceptResult {
  messageId: string;
  status: MessageStatus;
  duplicate: boolean;
  /**
   * False when the message is recorded but Redis did not take its job: the sweeper queues it within a minute.
   * The caller decides whether that is an acknowledgement (an API answer) or a 503 (a sender that retries).
   */
  queued: boolean;
}

export interface MessageServiceDeps {
  db: Db;
  config: Pick<Config, 'OTP_MAX_AGE_SECONDS' | 'SMS_OTP_MAX_AGE_SECONDS'>;
  store: Pick<MessageStore, 'recordAccepted'>;
  queues: Pick<Queues, 'send'>;
  log: Logger;
  now?: () => Date;
}

export type MessageService = ReturnType<typeof createMessageService>;

/** Rows written by one statement; bounds the statement's size, not the wait (there is none). */
const MAX_BATCH = 100;

/**
 * Why Postgres would refuse this message, or null. Checked before it joins a group: what is refused here is
 * refused alone (422), where in the group's INSERT it would fail every message written with it.
 */
function refusalOf(input: NewMessage): string | null {
  const problem = unstorable(input);
  if (problem) return `The message cannot be stored: ${problem}`;
  const recipients: [string, RecipientChannel, string][] = [['recipient', input.payload.channel, input.recipient]];
  if (input.payload.channel === 'sms' && input.payload.fallback)
    recipients.push(['fallback recipient', 'email', input.payload.fallback.recipient]);
  for (const [field, channel, raw] of recipients) {
    if (!isRecipient(channel, normalizeRecipient(channel, raw).recipient)) return `${field}: ${RECIPIENT_EXPECTED[channel]}`;
  }
  // Indexed columns: a longer key does not fit a btree entry.
  for (const [field, value] of [
    ['external id', input.externalId],
    ['user id', input.userId],
    ['template', input.template],
  ] as const) {
    if (value && value.length > MAX_KEY_CHARS) return `${field}: longer than ${MAX_KEY_CHARS} characters`;
  }
  return null;
}

interface PendingAccept {
  input: NewMessage;
  row: AcceptedRow;
  resolve(result: AcceptResult): void;
  reject(err: unknown): void;
}

/** The service's dependencies with its clock resolved. */
type AcceptDeps = Required<MessageServiceDeps>;

/** Queues one message's send job; false (logged) when Redis did not take it, which the sweeper makes good. */
async function enqueue({ queues, log }: AcceptDeps, messageId: string, generation = 0): Promise<boolean> {
  try {
    const job = sendJob(messageId, generation);
    await queues.send.add(job.name, job.data, job.opts);
    return true;
  } catch (err) {
    log.warn({ message_id: messageId, err: String(err) }, 'could not queue message; the sweeper will queue it');
    return false;
  }
}

/** The row a message is written as: recipient normalized, content redacted, expiry counted from its issue time. */
function prepare({ config, now }: AcceptDeps, input: NewMessage): AcceptedRow {
  const createdAt = now();
  const channel = input.payload.channel;
  const { recipient, domain } = normalizeRecipient(channel, input.recipient);
  const redacted = redactPayload(input.payload, input.secrets, input.codeBearing);
  const issuedAt = input.issuedAt && input.issuedAt < createdAt ? input.issuedAt : createdAt;
  const maxAgeSeconds = input.maxAgeSeconds ?? otpMaxAgeSeconds(config, channel);
  return {
    id: newId('msg'),
    source: input.source,
    external_id: input.externalId ?? null,
    channel,
    template: input.template ?? null,
    recipient,
    recipient_domain: domain,
    user_id: input.userId ?? null,
    subject: redacted.channel === 'email' ? redacted.subject : null,
    expires_at: input.codeBearing ? new Date(issuedAt.getTime() + maxAgeSeconds * 1000) : null,
    created_at: createdAt,
    payload: input.payload,
    redacted,
    detail: input.receivedDetail ?? {},
    traceparent: currentTraceparent(),
  };
}

/**
 * Records one group, settling every accept in it except those now recorded and still to be queued. A group
 * Postgres refuses for its data holds a message `refusalOf` did not foresee: the group is halved until that
 * message is alone, and only it is refused (422); the rest are written. Any other failure is the database's:
 * every accept in the group gets 503.
 */
async function record(deps: AcceptDeps, group: PendingAccept[]): Promise<PendingAccept[]> {
  const { store, log } = deps;
  let inserted: Set<string>;
  try {
    inserted = await store.recordAccepted(group.map((p) => p.row));
  } catch (err) {
    if (isDataError(err) && group.length > 1) {
      const half = Math.ceil(group.length / 2);
      return [...(await record(deps, group.slice(0, half))), ...(await record(deps, group.slice(half)))];
    }
    if (isDataError(err)) {
      log.warn(
        { err: databaseMessage(err), source: group[0]!.input.source, external_id: group[0]!.input.externalId ?? null },
        'message refused by the database',
      );
      group[0]!.reject(
        new ValidationError('The message holds a value the database cannot store', { database_error: databaseMessage(err) }),
      );
      return [];
    }
    log.error({ err: String(err), count: group.length }, 'could not record messages');
    for (const p of group) p.reject(new DependencyUnavailableError('Database unavailable; retry later', err));
    return [];
  }
  for (const p of group.filter((p) => !inserted.has(p.row.id))) acceptDuplicate(deps, p.input).then(p.resolve, p.reject);
  return group.filter((p) => inserted.has(p.row.id));
}

/** Queues recorded messages and settles their accepts; never throws. */
async function enqueueRecorded({ queues, log }: AcceptDeps, recorded: PendingAccept[]): Promise<void> {
  try {
    // The job id is the message id: adding a message twice (here, the sweeper, a retried webhook) is a no-op.
    await addJobs(
      queues.send,
      recorded.map((p) => withTraceContext(sendJob(p.row.id), p.row.traceparent)),
    );
  } catch (err) {
    log.warn({ err: String(err), message_ids: recorded.map((p) => p.row.id) }, 'could not queue messages; the sweeper will queue them');
    for (const p of recorded) p.resolve({ messageId: p.row.id, status: 'queued', duplicate: false, queued: false });
    return;
  }
  // Logged by the caller, which knows the request (or the job) it came from.
  for (const p of recorded) p.resolve({ messageId: p.row.id, status: 'queued', duplicate: false, queued: true });
}

/** A second accept with the same (source, external id): the first message's answer, its job queued again if still `queued`. */
async function acceptDuplicate(deps: AcceptDeps, input: NewMessage): Promise<AcceptResult> {
  const { db, log } = deps;
  const existing = await db.message
    .findUnique({
      where: { source_externalId: { source: input.source, externalId: input.externalId! } },
      select: { id: true, status: true, sendGeneration: true },
    })
    .catch((err: unknown) => {
      throw new DependencyUnavailableError('Database unavailable; retry later', err);
    });
  if (!existing) throw new DependencyUnavailableError('Message vanished while being deduplicated; retry');
  // The first delivery may have been answered 503 because Redis was down: queue it now (a no-op if queued).
  const queued = existing.status === 'queued' ? await enqueue(deps, existing.id, existing.sendGeneration) : true;
  log.info({ message_id: existing.id, external_id: input.externalId }, 'duplicate message ignored');
  return { messageId: existing.id, status: existing.status, duplicate: true, queued };
}

/**
 * Accepting a message: it is durable in Postgres (message, content and `received` event) before its job is
 * queued, and both happen before the caller acknowledges. If Redis is down the caller answers 503; the row
 * stays `queued` and the sweeper (or the sender's retry) queues it later.
 *
 * Accepts that arrive while an INSERT is in flight are written together by the next one (group commit): one
 * INSERT statement and one queue round trip for the whole group, and a group's queue round trip overlaps the
 * next group's INSERT. An accept that finds nothing in flight is written at once, so batching never adds
 * latency; under load it is what keeps the receiver fast.
 */
export function createMessageService({ now = () => new Date(), ...rest }: MessageServiceDeps) {
  const deps: AcceptDeps = { ...rest, now };
  const waiting: PendingAccept[] = [];
  let writing = false;

  async function drain(): Promise<void> {
    writing = true;
    try {
      while (waiting.length > 0) {
        const recorded = await record(deps, waiting.splice(0, MAX_BATCH));
        // Not awaited: the next group's INSERT overlaps this group's round trip to Redis.
        if (recorded.length > 0) void enqueueRecorded(deps, recorded);
      }
    } finally {
      writing = false;
    }
  }

  function accept(given: NewMessage): Promise<AcceptResult> {
    return new Promise<AcceptResult>((resolve, reject) => {
      const input = { ...given, payload: withSingleLineHeaders(given.payload) };
      const refusal = refusalOf(input);
      if (refusal) throw new ValidationError(refusal);
      waiting.push({ input, row: prepare(deps, input), resolve, reject });
      if (!writing) void drain();
    });
  }

  return { accept };
}
