import type { Worker } from 'bullmq';
import type { RedisClient } from '../src/lib/redis';
import type { Retention } from '../src/delivery/retention';
import type { Sweeper } from '../src/delivery/sweeper';
import type { Alerts } from '../src/deliverability/alerts';
import type { Stats } from '../src/deliverability/stats';
import type { ProviderEvents } from '../src/deliverability/provider-events';
import type { SuppressionService } from '../src/deliverability/suppressions';
import type { Logger } from '../src/lib/logger';
import { MAINTENANCE_SCHEDULER_IDS, scheduleMaintenance, SWEEP_EVERY_MS, type MaintenanceJobData, type Queues } from '../src/queue/catalog';
import { createJobWorker } from '../src/queue/queues';

/**
 * Keeps the schedulers registered while the process runs. They live in Redis only: a Redis that lost its
 * data (restarted without AOF, flushed) has none, and without the sweep nothing re-queues the messages whose
 * jobs went with it. Checked once per sweep period and whenever the connection comes back; re-registered
 * only when one is missing, so a check never moves the next run.
 */
export function keepMaintenanceScheduled(
  queues: Pick<Queues, 'maintenance'>,
  connection: RedisClient,
  log: Logger,
  sweepEveryMs = SWEEP_EVERY_MS,
): { stop(): void } {
  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const present = await Promise.all(MAINTENANCE_SCHEDULER_IDS.map((id) => queues.maintenance.getJobScheduler(id)));
      if (present.some((scheduler) => !scheduler)) {
        await scheduleMaintenance(queues, sweepEveryMs);
        log.warn(
          { missing: MAINTENANCE_SCHEDULER_IDS.filter((_, i) => !present[i]) },
          'maintenance schedulers were missing from Redis; registered again',
        );
      }
    } catch (err) {
      // Redis is down: the next tick (or the reconnection) tries again.
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not check the maintenance schedulers');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), sweepEveryMs);
  timer.unref();
  const onReady = () => void check();
  connection.on('ready', onReady);
  return {
    stop() {
      clearInterval(timer);
      connection.off('ready', onReady);
    },
  };
}

export function createMaintenanceWorker(options: {
  connection: RedisClient;
  prefix: string;
  sweeper: Pick<Sweeper, 'sweep'>;
  providerEvents: Pick<ProviderEvents, 'requeueStale'>;
  alerts: Pick<Alerts, 'evaluate'>;
  suppressions: Pick<SuppressionService, 'handleExpired'>;
  retention: Pick<Retention, 'run'>;
  stats: Pick<Stats, 'fold'>;
  log: Logger;
}): Worker<MaintenanceJobData> {
  const { sweeper, providerEvents, alerts, suppressions, retention, stats, log } = options;
  const worker = createJobWorker(
    'maintenance',
    async (data) => {
      switch (data.task) {
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
        case 'rollup':
          return stats.fold();
      }
    },
    { connection: options.connection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'maintenance worker error'));
  return worker;
}
