import { Worker } from 'bullmq';
import type { RedisClient } from '../src/lib/redis';
import type { Retention } from '../src/delivery/retention';
import type { Sweeper } from '../src/delivery/sweeper';
import type { Alerts } from '../src/deliverability/alerts';
import type { ProviderEvents } from '../src/deliverability/provider-events';
import type { SuppressionService } from '../src/deliverability/suppressions';
import type { Logger } from '../src/lib/logger';
import type { MaintenanceJobData, Queues } from '../src/queue/queues';

export const SWEEP_EVERY_MS = 30_000;
export const DELIVERABILITY_EVERY_MS = 60_000;
export const RETENTION_CRON = '17 3 * * *';

/**
 * Periodic housekeeping as BullMQ job schedulers, so it runs once per interval however many worker
 * processes there are.
 */
export async function scheduleMaintenance(queues: Pick<Queues, 'maintenance'>): Promise<void> {
  await queues.maintenance.upsertJobScheduler('sweep', { every: SWEEP_EVERY_MS }, { name: 'sweep', data: { task: 'sweep' } });
  await queues.maintenance.upsertJobScheduler(
    'deliverability',
    { every: DELIVERABILITY_EVERY_MS },
    { name: 'deliverability', data: { task: 'deliverability' } },
  );
  // Daily, at a quiet hour (UTC): deletes are batched, but there is no reason to do them at peak.
  await queues.maintenance.upsertJobScheduler('retention', { pattern: RETENTION_CRON, tz: 'UTC' }, { name: 'retention', data: { task: 'retention' } });
}

export function createMaintenanceWorker(options: {
  connection: RedisClient;
  prefix: string;
  sweeper: Pick<Sweeper, 'sweep'>;
  providerEvents: Pick<ProviderEvents, 'requeueStale'>;
  alerts: Pick<Alerts, 'evaluate'>;
  suppressions: Pick<SuppressionService, 'handleExpired'>;
  retention: Pick<Retention, 'run'>;
  log: Logger;
}): Worker<MaintenanceJobData> {
  const { sweeper, providerEvents, alerts, suppressions, retention, log } = options;
  const worker = new Worker<MaintenanceJobData>(
    'maintenance',
    async (job) => {
      switch (job.data.task) {
        case 'sweep': {
          const result = await sweeper.sweep();
          if (result.requeued > 0 || result.purged > 0) log.info(result, 'sweep finished');
          return result;
        }
        case 'deliverability': {
          // Provider events whose job was lost or gave up waiting for their message, suppressions that ran
          // out, then the rate alerts.
          const requeued = await providerEvents.requeueStale();
          if (requeued > 0) log.info({ requeued }, 'provider events requeued');
          const expiredSuppressions = await suppressions.handleExpired();
          const changes = await alerts.evaluate();
          return { requeued, expiredSuppressions, alerts: changes.map((c) => `${c.key}:${c.to}`) };
        }
        case 'retention':
          return retention.run();
      }
    },
    { connection: options.connection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'maintenance worker error'));
  return worker;
}
