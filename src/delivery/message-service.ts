import type { Db } from '../db/prisma';
import type { MessageSource, MessageStatus } from '../generated/prisma/enums';
import { DependencyUnavailableError } from '../lib/errors';
import { newId } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { sendJobId, type Queues } from '../queue/queues';
import { normalizeRecipient, redactPayload, type MessagePayload } from './content';

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
  maxAgeSeconds: number;
  /** Kept on the `received` event (e.g. the Svix message id). */
  receivedDetail?: Record<string, unknown>;
}

export interface AcceptResult {
  messageId: string;
  status: MessageStatus;
  duplicate: boolean;
}

export interface MessageServiceDeps {
  db: Db;
  queues: Pick<Queues, 'send'>;
  log: Logger;
  now?: () => Date;
}

export type MessageService = ReturnType<typeof createMessageService>;

/**
 * Accepting a message: it is durable in Postgres (message, content and `received` event in one statement)
 * before its job is queued, and both happen before the caller acknowledges. If Redis is down the caller
 * answers 503; the row stays `queued` and the sweeper (or the sender's retry) queues it later.
 */
export function createMessageService({ db, queues, log, now = () => new Date() }: MessageServiceDeps) {
  async function enqueue(messageId: string): Promise<void> {
    try {
      await queues.send.add('send', { messageId }, { jobId: sendJobId(messageId) });
    } catch (err) {
      log.warn({ message_id: messageId, err: String(err) }, 'could not queue message; the sweeper will retry');
      throw new DependencyUnavailableError('Queue unavailable; the message is recorded, retry later', err);
    }
  }

  async function accept(input: NewMessage): Promise<AcceptResult> {
    const id = newId('msg');
    const createdAt = now();
    const channel = input.payload.channel;
    const { recipient, domain } = normalizeRecipient(channel, input.recipient);
    const redacted = redactPayload(input.payload, input.secrets, input.codeBearing);
    const issuedAt = input.issuedAt && input.issuedAt < createdAt ? input.issuedAt : createdAt;
    const expiresAt = input.codeBearing ? new Date(issuedAt.getTime() + input.maxAgeSeconds * 1000) : null;
    const subject = redacted.channel === 'email' ? redacted.subject : null;

    let inserted: { id: string }[];
    try {
      // One round trip on the hot path: message, content and first event land together or not at all.
      inserted = await db.$queryRaw<{ id: string }[]>`
        WITH m AS (
          INSERT INTO messages (id, source, external_id, channel, template, recipient, recipient_domain, user_id,
                                subject, expires_at, created_at, updated_at)
          VALUES (${id}, ${input.source}::"MessageSource", ${input.externalId ?? null}, ${channel}::"Channel",
                  ${input.template ?? null}, ${recipient}, ${domain}, ${input.userId ?? null}, ${subject},
                  ${expiresAt}, ${createdAt}, ${createdAt})
          ON CONFLICT (source, external_id) DO NOTHING
          RETURNING id
        ), content AS (
          INSERT INTO message_contents (message_id, payload, redacted, created_at)
          SELECT id, ${JSON.stringify(input.payload)}::jsonb, ${JSON.stringify(redacted)}::jsonb, ${createdAt} FROM m
        ), event AS (
          INSERT INTO message_events (message_id, type, occurred_at, detail)
          SELECT id, 'received', ${createdAt}, ${JSON.stringify(input.receivedDetail ?? {})}::jsonb FROM m
        )
        SELECT id FROM m`;
    } catch (err) {
      log.error({ err: String(err) }, 'could not record message');
      throw new DependencyUnavailableError('Database unavailable; retry later', err);
    }

    if (inserted.length === 0) return acceptDuplicate(input);

    const messageLog = log.child({ message_id: id });
    // The `queued` event is written by the worker from the job's own timestamp, keeping this path to one
    // Postgres and one Redis round trip.
    await enqueue(id);
    messageLog.info({ source: input.source, channel, template: input.template }, 'message accepted');
    return { messageId: id, status: 'queued', duplicate: false };
  }

  async function acceptDuplicate(input: NewMessage): Promise<AcceptResult> {
    const existing = await db.message
      .findUnique({
        where: { source_externalId: { source: input.source, externalId: input.externalId! } },
        select: { id: true, status: true },
      })
      .catch((err: unknown) => {
        throw new DependencyUnavailableError('Database unavailable; retry later', err);
      });
    if (!existing) throw new DependencyUnavailableError('Message vanished while being deduplicated; retry');
    // The first delivery may have been answered 503 because Redis was down: queue it now (a no-op if queued).
    if (existing.status === 'queued') await enqueue(existing.id);
    log.info({ message_id: existing.id, external_id: input.externalId }, 'duplicate message ignored');
    return { messageId: existing.id, status: existing.status, duplicate: true };
  }

  return { accept, enqueue };
}
