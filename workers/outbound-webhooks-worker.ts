import type { Worker } from 'bullmq';
import type { Logger } from '../src/lib/logger';
import type { RedisClient } from '../src/lib/redis';
import type { OutboundDeliveries } from '../src/outbound/deliveries';
import type { OutboundWebhookJobData } from '../src/queue/catalog';
import { createJobWorker, runAgainLater } from '../src/queue/queues';

/** How many endpoint calls one process makes at once: a slow endpoint holds a slot for at most 15 s. */
export const OUTBOUND_CONCURRENCY = 50;

/**
 * Outbound event webhooks, on a queue of their own: the endpoints' speed never touches sending. A failed
 * attempt moves the job to delayed for the schedule's next step, so the job and its id live until the
 * delivery succeeds or is given up.
 */
export function createOutboundWebhooksWorker(options: {
  connection: RedisClient;
  prefix: string;
  deliveries: Pick<OutboundDeliveries, 'attempt' | 'sweep'>;
  log: Logger;
  concurrency?: number;
}): Worker<OutboundWebhookJobData> {
  const { deliveries, log } = options;
  const worker = createJobWorker(
    'outboundWebhooks',
    async (data, job, token) => {
      if ('task' in data) return deliveries.sweep();
      const outcome = await deliveries.attempt(data);
      if (outcome.kind === 'retry') return runAgainLater(job, token, data, outcome.delayMs);
      return outcome.status;
    },
    { connection: options.connection, prefix: options.prefix, concurrency: options.concurrency ?? OUTBOUND_CONCURRENCY },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'outbound-webhooks worker error'));
  worker.on('failed', (job, err) => {
    if (job && !('task' in job.data)) log.error({ delivery_id: job.data.deliveryId, err: err.message }, 'outbound webhook job failed');
  });
  return worker;
}
