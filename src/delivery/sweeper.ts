import type { Db } from '../db/prisma';
import type { Logger } from '../lib/logger';
import { sendJob, sendJobId, type Queues } from '../queue/catalog';
import { requeueJob } from '../queue/queues';
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

/** How many stale messages one sweep looks at. */
const SWEEP_BATCH = 500;

/** Job states in which the job will still run (or is running): its message is not lost. */
const LIVE_JOB_STATES: ReadonlySet<string> = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

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

  /** Messages still in flight, untouched since `cutoff` and held by no worker, oldest first. */
  const findStale = (at: Date, cutoff: Date, ids?: string[]) =>
    db.message.findMany({
      where: {
        ...(ids ? { id: { in: ids } } : {}),
        status: { in: IN_FLIGHT },
        updatedAt: { lt: cutoff },
        OR: [{ leaseUntil: null }, { leaseUntil: { lt: at } }],
      },
      select: { id: true, sendGeneration: true, updatedAt: true },
      orderBy: { updatedAt: 'asc' },
      take: SWEEP_BATCH,
    });

  /**
   * The stale messages whose job is really gone. Under a backlog most stale messages are simply waiting their
   * turn, and the worker finishes some between our read and our look at their job: a job is asked for its
   * state first, and a message whose job has ended is read again, after that, and counts as lost only if it
   * is still in flight and untouched. (The worker records the outcome before it completes the job, so a job
   * seen completed has its outcome in Postgres.)
   */
  async function findLost(at: Date, cutoff: Date) {
    const stale = await findStale(at, cutoff);
    const states = await Promise.all(stale.map((m) => queues.send.getJobState(sendJobId(m.id, m.sendGeneration))));
    const ended = stale.filter((_, i) => !LIVE_JOB_STATES.has(states[i]!));
    if (ended.length === 0) return [];
    const seen = new Map(ended.map((m) => [m.id, m]));
    const current = await findStale(at, cutoff, [...seen.keys()]);
    return current.filter((m) => {
      const before = seen.get(m.id)!;
      return m.sendGeneration === before.sendGeneration && m.updatedAt.getTime() === before.updatedAt.getTime();
    });
  }

  async function sweep(): Promise<{ requeued: number; purged: number }> {
    const at = now();
    const lost = await findLost(at, new Date(at.getTime() - staleAfterMs));
    let requeued = 0;
    for (const { id, sendGeneration } of lost) {
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
