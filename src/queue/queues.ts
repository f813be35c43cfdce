import { DelayedError, UnrecoverableError, Worker, type Job, type Queue, type WorkerOptions } from 'bullmq';
import { JOB_CATALOG, type JobData, type QueueKey } from './catalog';

/**
 * A job whose data does not match its queue's schema: failed at once (no attempts spent on it), with the
 * schema's complaint as the job's failure reason, rather than thrown somewhere deep in the processor.
 */
export class MalformedJobError extends UnrecoverableError {
  constructor(queue: string, jobId: string | undefined, problem: string) {
    super(`malformed ${queue} job ${jobId ?? '(no id)'}: ${problem}`);
    this.name = 'MalformedJobError';
  }
}

/** The job's data, parsed with its queue's schema (queue/catalog.ts). */
export function parseJobData<K extends QueueKey>(key: K, job: Pick<Job, 'id' | 'data'>): JobData<K> {
  const { name, data } = JOB_CATALOG[key];
  const parsed = data.safeParse(job.data);
  if (parsed.success) return parsed.data as JobData<K>;
  const problem = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'data'}: ${issue.message}`).join('; ');
  throw new MalformedJobError(name, job.id, problem);
}

export type JobProcessor<K extends QueueKey, R> = (data: JobData<K>, job: Job<JobData<K>>, token: string | undefined) => Promise<R>;

/** A worker for one queue of the catalog: each job's data is parsed before `processor` sees it. */
export function createJobWorker<K extends QueueKey, R>(
  key: K,
  processor: JobProcessor<K, R>,
  options: WorkerOptions & { prefix: string },
): Worker<JobData<K>, R> {
  return new Worker<JobData<K>, R>(JOB_CATALOG[key].name, (job, token) => processor(parseJobData(key, job), job, token), options);
}

/** A job in the shape `addBulk` takes, as the catalog's job builders make them. */
type QueuedJob<T> = Parameters<Queue<T>['addBulk']>[0][number];

/**
 * Adds `jobs` in one round trip. One job goes as a plain `add`: `addBulk` builds an ioredis pipeline, and
 * ioredis copies every script loaded on the connection (BullMQ's 64) onto each one, which cost more CPU than
 * the job itself (150-250 µs of CPU a job against 260-310 for `addBulk` of one: `npm run bench:queue-add`).
 */
export async function addJobs<T>(queue: Queue<T>, jobs: QueuedJob<T>[]): Promise<void> {
  const [only] = jobs;
  if (only && jobs.length === 1) await queue.add(only.name, only.data, only.opts);
  else if (jobs.length > 1) await queue.addBulk(jobs);
}

/**
 * Queue a job again whatever became of the previous one with its id: a failed one is retried, a finished or
 * vanished one is added afresh, a live one (waiting, delayed, active) is left alone.
 */
export async function requeueJob<T>(queue: Queue<T>, jobId: string, add: () => Promise<unknown>): Promise<'added' | 'retried' | 'alive'> {
  const job = await queue.getJob(jobId);
  if (job) {
    const state = await job.getState();
    if (state === 'failed') {
      await job.retry('failed');
      return 'retried';
    }
    if (state !== 'completed' && state !== 'unknown') return 'alive';
    await job.remove();
  }
  await add();
  return 'added';
}

/**
 * From inside a worker: runs the job again with `data` after `delayMs`, without spending one of its attempts
 * (BullMQ's delayed-job pattern), so a provider's Retry-After is kept to the millisecond.
 */
export async function runAgainLater<T>(job: Job<T>, token: string | undefined, data: T, delayMs: number): Promise<never> {
  await job.updateData(data);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
