import type { Worker } from 'bullmq';
import type { Container } from '../src/container';
import { createRedisConnection } from '../src/lib/redis';
import { createClerkWritebackWorker } from './clerk-writeback-worker';
import { JOB_CATALOG, scheduleMaintenance, scheduleOutboundSweep } from '../src/queue/catalog';
import { createMaintenanceWorker, keepMaintenanceScheduled } from './maintenance-worker';
import { createOutboundWebhooksWorker } from './outbound-webhooks-worker';
import { createProviderEventsWorker } from './provider-events-worker';
import { createSendWorker } from './send-worker';

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs and waits for the running ones, at most `graceMs`, then leaves them to be retried. */
  close(graceMs: number): Promise<void>;
}

export async function startWorkers(
  container: Container,
  tuning: { lockDuration?: number; stalledInterval?: number; sweepEveryMs?: number } = {},
): Promise<RunningWorkers> {
  const { config, log } = container;
  const connection = createRedisConnection(config, 'worker');
  connection.on('error', (err) => log.warn({ err: err.message, variable: 'REDIS_URL' }, 'worker redis connection error (REDIS_URL)'));
  const prefix = container.redisKeys.queue;
  const { sweepEveryMs, ...sendTuning } = tuning;
  const workers: Worker[] = [
    createSendWorker({
      connection,
      prefix: prefix(JOB_CATALOG.send.name),
      delivery: container.delivery,
      log,
      concurrency: config.SEND_CONCURRENCY,
      ...sendTuning,
    }),
    createMaintenanceWorker({
      connection,
      prefix: prefix(JOB_CATALOG.maintenance.name),
      sweeper: container.sweeper,
      providerEvents: container.providerEvents,
      alerts: container.alerts,
      suppressions: container.suppressions,
      retention: container.retention,
      stats: container.stats,
      log,
    }),
    createProviderEventsWorker({
      connection,
      prefix: prefix(JOB_CATALOG.providerEvents.name),
      providerEvents: container.providerEvents,
      log,
      concurrency: config.EVENT_CONCURRENCY,
    }),
    createClerkWritebackWorker({
      connection,
      prefix: prefix(JOB_CATALOG.clerkWriteback.name),
      clerkWriteback: container.clerkWriteback,
      metrics: container.metrics,
      log,
      concurrency: config.WRITEBACK_CONCURRENCY,
    }),
    createOutboundWebhooksWorker({
      connection,
      prefix: prefix(JOB_CATALOG.outboundWebhooks.name),
      deliveries: container.outbound.deliveries,
      log,
    }),
  ];
  await scheduleMaintenance(container.queues, sweepEveryMs);
  await scheduleOutboundSweep(container.queues);
  const schedulers = keepMaintenanceScheduled(container.queues, connection, log, sweepEveryMs);
  log.info({ workers: workers.map((w) => w.name) }, 'workers started');

  return {
    workers,
    async close(graceMs) {
      schedulers.stop();
      let timer: NodeJS.Timeout | undefined;
      // BullMQ's close(force) cannot cut short a close already under way, so the bound is kept here: past it,
      // the connection goes, the running jobs' locks lapse, and another worker retries them.
      const graceful = Promise.all(workers.map((w) => w.close())).then(
        () => true,
        () => true,
      );
      const finished = await Promise.race([
        graceful,
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (!finished) log.warn({ grace_ms: graceMs }, 'jobs still running at shutdown; they will be retried by another worker');
      connection.disconnect();
    },
  };
}
