import type { Db } from '../db/prisma';
import type { Logger } from '../lib/logger';
import { requeueJob, sendJob, type Queues } from '../queue/queues';
import type { MessageStore } from './message-store';
import { IN_FLIGHT } from './timeline';

export interface SweeperDeps {
  db: Db;
  store: Pick<MessageStore, 'touch'>;
  queues: Pick<Queues, 'send'>;
  log: Logger;
  now?: () => Date;
  /** A message untouched this long while queued or sending has lost its job (e.g. Redis restarted). */
  staleAfterMs?: number;
}

export type Sweeper = ReturnType<typeof createSweeper>;

/**
 * The safety net under the queue: Postgres is the source of truth, so any message still waiting without a
 * live job is queued again. Re-queuing is safe because the send job id is the message id and the sender
 * re-checks the message's status before sending.
 */
export function createSweeper({ db, store, queues, log, now = () => new Date(), staleAfterMs = 60_000 }: SweeperDeps) {
  /** Queue a message's send job again whatever became of the previous one. */
  async function requeue(messageId: string, generation = 0): Promise<'added' | 'retried' | 'alive'> {
    const job = sendJob(messageId, generation);
    return requeueJob(queues.send, job.opts.jobId, () => queues.send.add(job.name, job.data, job.opts));
  }

  async function sweep(): Promise<{ requeued: number; purged: number }> {
    const at = now();
    const stale = await db.message.findMany({
      where: {
        status: { in: IN_FLIGHT },
        updatedAt: { lt: new Date(at.getTime() - staleAfterMs) },
        OR: [{ leaseUntil: null }, { leaseUntil: { lt: at } }],
      },
      select: { id: true, sendGeneration: true },
      orderBy: { updatedAt: 'asc' },
      take: 500,
    });
    let requeued = 0;
    for (const { id, sendGeneration } of stale) {
      const result = await requeue(id, sendGeneration);
      if (result !== 'alive') {
        requeued += 1;
        log.warn({ message_id: id, result }, 'requeued a message that had lost its job');
      }
      // Touch it so the next sweep does not pick it again before the worker has had a chance.
      await store.touch(id, at);
    }
    // Codes are never kept in clear past their lifetime, whatever state the message ended in.
    const purged = await db.$executeRaw`
      UPDATE message_contents SET payload = NULL WHERE payload IS NOT NULL AND expires_at < ${at}`;
    // Nor their HMACs once no check can succeed (used, burnt and replaced codes lose theirs at once).
    const expiredCodes = await db.$executeRaw`
      UPDATE verifications SET code_hash = NULL WHERE code_hash IS NOT NULL AND expires_at < ${at}`;
    return { requeued, purged: purged + expiredCodes };
  }

  return { sweep, requeue };
}
