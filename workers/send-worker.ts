import type { Worker } from 'bullmq';
import type { RedisClient } from '../src/lib/redis';
import type { DeliveryService } from '../src/delivery/delivery-service';
import type { Logger } from '../src/lib/logger';
import { withJobSpan } from '../src/lib/tracing';
import { JOB_CATALOG, type SendJobData } from '../src/queue/catalog';
import { createJobWorker, runAgainLater } from '../src/queue/queues';

export interface SendWorkerOptions {
  connection: RedisClient;
  prefix: string;
  delivery: Pick<DeliveryService, 'processSend'>;
  log: Logger;
  /** SEND_CONCURRENCY: above the providers' own limits (providers/concurrency.ts), which bound what goes out. */
  concurrency: number;
  /** BullMQ lock: a job whose worker died is retried once this lapses (default 30 s). */
  lockDuration?: number;
  stalledInterval?: number;
}

/**
 * Turns the delivery service's decisions into BullMQ moves: a retry becomes a delayed job (not a spent
 * attempt), so provider back-off and Retry-After are honoured to the millisecond.
 */
export function createSendWorker(options: SendWorkerOptions): Worker<SendJobData> {
  const { delivery, log } = options;
  const worker = createJobWorker(
    'send',
    async (data, job, token) =>
      withJobSpan(JOB_CATALOG.send.name, job, async (span) => {
        span.setAttribute('auth_relay.message_id', data.messageId);
        const outcome = await delivery.processSend(data, new Date(job.timestamp));
        span.setAttribute('auth_relay.outcome', outcome.kind === 'retry' ? 'retry' : outcome.status);
        if (outcome.kind === 'retry') return runAgainLater(job, token, { ...data, ...outcome.state }, outcome.delayMs);
        return outcome.status;
      }),
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      ...(options.lockDuration ? { lockDuration: options.lockDuration } : {}),
      ...(options.stalledInterval ? { stalledInterval: options.stalledInterval } : {}),
      // A stalled job is re-run (the message's status, lease and the provider idempotency key keep that safe).
      maxStalledCount: 3,
    },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'send worker error'));
  worker.on('failed', (job, err) => {
    if (job) log.error({ message_id: job.data.messageId, attempts: job.attemptsMade, err: err.message }, 'send job failed');
  });
  return worker;
}
