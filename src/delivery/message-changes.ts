import type { Db } from '../db/prisma';
import type { MessageStatus } from '../generated/prisma/enums';
import type { Logger } from '../lib/logger';
import type { MessageChange, TimelineEvent } from './timeline';

/**
 * What every message-store transition works with: the database, and `changed`, which announces a committed
 * change to the store's `onChange` hook. The transitions live in send-transitions.ts and
 * report-transitions.ts; message-store.ts composes them.
 */
export interface StoreContext {
  db: Db;
  changed: (messageId: string, status: MessageStatus, event: TimelineEvent, at?: Date) => void;
}

/** `changed` for a store: not awaited, and a failing hook is logged, never undoing the change it heard of. */
export function announceChanges(
  now: () => Date,
  onChange: ((change: MessageChange) => void | Promise<void>) | undefined,
  log: Logger | undefined,
): StoreContext['changed'] {
  return (messageId, status, event, at = now()) => {
    if (!onChange) return;
    const report = (err: unknown) =>
      log?.warn({ message_id: messageId, event: event.type, err: String(err) }, 'message change hook failed');
    try {
      void Promise.resolve(onChange({ messageId, status, event, at })).catch(report);
    } catch (err) {
      report(err);
    }
  };
}

/** One event on the timeline, without a status change, announced once written. */
export async function appendEvent(
  { db, changed }: StoreContext,
  messageId: string,
  status: MessageStatus,
  event: TimelineEvent,
  occurredAt?: Date,
): Promise<void> {
  const provider = 'provider' in event ? event.provider : undefined;
  await db.messageEvent.create({ data: { messageId, type: event.type, provider, occurredAt, detail: event.detail as never } });
  changed(messageId, status, event, occurredAt);
}
