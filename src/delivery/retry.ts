import type { Db } from '../db/prisma';
import type { MessageStatus } from '../generated/prisma/enums';
import { ConflictError, NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { MessageStore } from './message-store';
import type { Sweeper } from './sweeper';

export interface MessageRetryDeps {
  db: Db;
  store: Pick<MessageStore, 'requeue'>;
  sweeper: Pick<Sweeper, 'requeue'>;
  log: Logger;
  now?: () => Date;
}

export const RETRYABLE_STATUSES: readonly MessageStatus[] = ['failed', 'expired'];

export type MessageRetry = ReturnType<typeof createMessageRetry>;

/** Why a message cannot be sent again, or null when it can; the dashboard shows the reason instead of the button. */
export function retryRefusal(m: { status: MessageStatus; expiresAt: Date | null; hasPayload: boolean }, at: Date): string | null {
  if (!RETRYABLE_STATUSES.includes(m.status)) return `only failed or expired messages can be retried; this one is ${m.status}`;
  // A code is never sent late, and its clear content is dropped once the message ends: the user must ask again.
  if (m.expiresAt && m.expiresAt <= at) return 'the code in this message has expired; the user must request a new one';
  if (!m.hasPayload) return 'the content of this message is no longer kept; it cannot be sent again';
  return null;
}

/**
 * "Retry now" from the dashboard or the CLI: the message goes back to `queued` (with a `retried` event on its
 * timeline) and its send job is queued again from the first provider. The status change is conditional, so
 * two clicks queue it once.
 */
export function createMessageRetry({ db, store, sweeper, log, now = () => new Date() }: MessageRetryDeps) {
  async function retryMessage(id: string): Promise<{ id: string; status: 'queued' }> {
    const at = now();
    const message = await db.message.findUnique({
      where: { id },
      select: { status: true, expiresAt: true, content: { select: { payload: true } } },
    });
    if (!message) throw new NotFoundError(`No message ${id}`);
    const refusal = retryRefusal(
      { status: message.status, expiresAt: message.expiresAt, hasPayload: message.content?.payload != null },
      at,
    );
    if (refusal) throw new ConflictError(refusal, 'not_retryable');

    // A new send generation: the provider sees a new idempotency key (the old one would only replay its first
    // answer and send nothing), and the message gets a fresh job starting from the first provider.
    const generation = await store.requeue(id, message.status, at);
    if (generation === null) throw new ConflictError('the message changed while it was being retried; look again', 'not_retryable');
    await sweeper.requeue(id, generation);
    log.info({ message_id: id, previous_status: message.status }, 'message retried by an admin');
    return { id, status: 'queued' };
  }

  return { retryMessage };
}
