import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Retention } from '../src/delivery/retention';
import type { Sweeper } from '../src/delivery/sweeper';
import type { Logger } from '../src/lib/logger';
import type { MaintenanceJobData, Queues } from '../src/queue/queues';

export const SWEEP_EVERY_MS = 30_000;
export const RETENTION_CRON = '17 3 * * *';

/**
 * Periodic housekeeping as BullMQ job schedulers, so it runs once per interval however many worker
 * processes there are.
 */
export async function scheduleMaintenance(queues: Pick<Queues, 'maintenance'>): Promise<void> {
  await queues.maintenance.upsertJobScheduler('sweep', { every: SWEEP_EVERY_MS }, { name: 'sweep', data: { task: 'sweep' } });
  // Daily, at a quiet hour (UTC): deletes are batched, but there is no reason to do them at peak.
  await queues.maintenance.upsertJobScheduler('retention', { pattern: RETENTION_CRON, tz: 'UTC' }, { name: 'retention', data: { task: 'retention' } });
}

export function createMaintenanceWorker(options: {
  connection: Redis;
  prefix: string;
  sweeper: Pick<Sweeper, 'sweep'>;
  retention: Pick<Retention, 'run'>;
  log: Logger;
}): Worker<MaintenanceJobData> {
  const { sweeper, retention, log } = options;
  const worker = new Worker<MaintenanceJobData>(
    'maintenance',
    async (job) => {
      switch (job.data.task) {
        case 'sweep': {
          const result = await sweeper.sweep();
          if (result.requeued > 0 || result.purged > 0) log.info(result, 'sweep finished');
          return result;
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
