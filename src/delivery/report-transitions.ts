import type { MessageStatus } from '../generated/prisma/enums';
import { appendEvent, type StoreContext } from './message-changes';
import { replaceableBy, statusForReport, type ProviderReport, type ProviderReportDetail } from './timeline';

/**
 * The message store's transitions after a send: a provider's report, the Clerk write-back's outcome, and an
 * admin's retry. Composed by `createMessageStore`.
 */

/**
 * An admin's retry: back to `queued` in a new send generation, only from the status the caller saw (two
 * clicks queue it once). Returns the new generation, or null when the message had changed meanwhile.
 */
export async function requeue({ db, changed }: StoreContext, messageId: string, from: MessageStatus, at: Date): Promise<number | null> {
  const generation = await db.$transaction(async (tx) => {
    const { count } = await tx.message.updateMany({
      where: { id: messageId, status: from },
      data: { status: 'queued', leaseUntil: null, updatedAt: at, sendGeneration: { increment: 1 } },
    });
    if (count !== 1) return null;
    const { sendGeneration } = await tx.message.findUniqueOrThrow({ where: { id: messageId }, select: { sendGeneration: true } });
    await tx.messageEvent.create({
      data: { messageId, type: 'retried', occurredAt: at, detail: { previous_status: from, by: 'admin', generation: sendGeneration } },
    });
    return sendGeneration;
  });
  if (generation !== null) {
    changed(messageId, 'queued', { type: 'retried', detail: { previous_status: from, by: 'admin', generation } }, at);
  }
  return generation;
}

/**
 * A provider's report, recorded once (by its dedupe key). Only the provider that sent the message speaks for
 * it: another's report is recorded, noted, and changes nothing. The status only moves forward (see
 * `replaceableBy`). Returns 'duplicate' when an earlier run recorded it, and the status it moved to, if any.
 */
export async function applyProviderEvent(
  { db, changed }: StoreContext,
  message: { id: string; status: MessageStatus; provider: string | null },
  report: ProviderReport,
): Promise<{ outcome: 'applied' | 'duplicate'; moved: MessageStatus | null }> {
  const applies = message.provider === report.provider;
  const newStatus = applies ? statusForReport(report.type) : undefined;
  const detail: ProviderReportDetail = applies
    ? report.detail
    : { ...report.detail, not_applied: `the message was sent by ${message.provider ?? 'no provider'}, not ${report.provider}` };
  const { id: messageId } = message;
  let moved: MessageStatus | null = null;
  try {
    const [, statusChange] = await db.$transaction([
      db.messageEvent.create({
        data: {
          messageId,
          type: report.type,
          provider: report.provider,
          occurredAt: report.at,
          dedupeKey: report.dedupeKey,
          detail: detail as never,
        },
      }),
      ...(newStatus
        ? [
            db.message.updateMany({
              where: { id: messageId, status: { in: replaceableBy(report.type, report.bounceKind) } },
              data: { status: newStatus, ...(report.failure ? { lastError: report.failure } : {}) },
            }),
          ]
        : []),
      ...(report.type === 'delivered' && newStatus
        ? [db.message.updateMany({ where: { id: messageId, deliveredAt: null }, data: { deliveredAt: report.at } })]
        : []),
    ]);
    if (newStatus && statusChange && 'count' in statusChange && statusChange.count > 0) moved = newStatus;
  } catch (err) {
    if ((err as { code?: string }).code !== 'P2002') throw err;
    return { outcome: 'duplicate', moved: null };
  }
  changed(messageId, moved ?? message.status, { type: report.type, provider: report.provider, reported: true, detail }, report.at);
  return { outcome: 'applied', moved };
}

/** The Clerk write-back's outcome, on the message's timeline while the message is kept. False if it is gone. */
export async function recordWriteback(
  ctx: StoreContext,
  messageId: string,
  detail: { email_status: string } & Record<string, unknown>,
): Promise<boolean> {
  // The message may have aged out of the log; the caller still logs the outcome.
  const message = await ctx.db.message.findUnique({ where: { id: messageId }, select: { status: true } });
  if (!message) return false;
  await appendEvent(ctx, messageId, message.status, { type: 'clerk_writeback', provider: 'clerk', detail });
  return true;
}
