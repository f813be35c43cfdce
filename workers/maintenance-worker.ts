import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Sweeper } from '../src/delivery/sweeper';
import type { Logger } from '../src/lib/logger';
import type { MaintenanceJobData, Queues } from '../src/queue/queues';

export const SWEEP_EVERY_MS = 30_000;

/**
 * Periodic housekeeping as BullMQ job schedulers, so it runs once per interval however many worker
 * processes there are.
 */
export async function scheduleMaintenance(queues: Pick<Queues, 'maintenance'>): Promise<void> {
  await queues.maintenance.upsertJobScheduler('sweep', { every: SWEEP_EVERY_MS }, { name: 'sweep', data: { task: 'sweep' } });
}

export function createMaintenanceWorker(options: {
  connection: Redis;
  prefix: string;
  sweeper: Pick<Sweeper, 'sweep'>;
  log: Logger;
}): Worker<MaintenanceJobData> {
  const { sweeper, log } = options;
  const worker = new Worker<MaintenanceJobData>(
    'maintenance',
    async (job) => {
      switch (job.data.task) {
        case 'sweep': {
          const result = await sweeper.sweep();
          if (result.requeued > 0 || result.purged > 0) log.info(result, 'sweep finished');
          return result;
        }
      }
    },
    { connection: options.connection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'maintenance worker error'));
  return worker;
}
