import type { Redis } from 'ioredis';
import type { Config } from './config/env';
import { createPrisma, type Db } from './db/prisma';
import { createDeliveryService, type DeliveryService } from './delivery/delivery-service';
import { createMessageLog, type MessageLog } from './delivery/message-log';
import { createMessageService, type MessageService } from './delivery/message-service';
import { createRetention, type Retention } from './delivery/retention';
import { createMessageRetry, type MessageRetry } from './delivery/retry';
import { createSweeper, type Sweeper } from './delivery/sweeper';
import {
  createLogStats,
  createSuppressionTable,
  unknownCircuitStates,
  type CircuitStates,
  type StatsSource,
  type SuppressionStore,
} from './dashboard/sources';
import type { Logger } from './lib/logger';
import { createMetrics, type Metrics } from './metrics/metrics';
import { createProviderChains } from './providers';
import type { ProviderChains } from './providers/types';
import { createProducerConnection, createQueues, type Queues } from './queue/queues';

/**
 * The composition root: the one place that builds config-dependent objects and wires them together.
 * Everything else receives its dependencies as arguments, so tests can pass real or fake ones.
 */
export interface Container {
  config: Config;
  log: Logger;
  db: Db;
  redis: Redis;
  queues: Queues;
  providers: ProviderChains;
  messages: MessageService;
  messageLog: MessageLog;
  delivery: DeliveryService;
  sweeper: Sweeper;
  retry: MessageRetry;
  retention: Retention;
  metrics: Metrics;
  /** Seams for the deliverability and provider services: stand-ins over the delivery log until they land. */
  suppressions: SuppressionStore;
  stats: StatsSource;
  circuits: CircuitStates;
  close(): Promise<void>;
}

export interface ContainerOverrides {
  providers?: ProviderChains;
}

export function buildContainer(config: Config, log: Logger, overrides: ContainerOverrides = {}): Container {
  const db = createPrisma(config.DATABASE_URL);
  const redis = createProducerConnection(config.REDIS_URL);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  for (const queue of queues.all()) queue.on('error', (err) => log.warn({ queue: queue.name, err: err.message }, 'queue error'));
  const providers = overrides.providers ?? createProviderChains({ config, db });

  const suppressions = createSuppressionTable(db);
  const stats = createLogStats(db);
  const circuits = unknownCircuitStates(config);
  const metrics = createMetrics({ db, queues, stats });

  const messages = createMessageService({ db, queues, log });
  const delivery = createDeliveryService({ db, providers, config, log, metrics });
  const sweeper = createSweeper({ db, queues, log });
  const messageLog = createMessageLog(db);
  const retry = createMessageRetry({ db, sweeper, log });
  const retention = createRetention({ db, config, log });

  return {
    config,
    log,
    db,
    redis,
    queues,
    providers,
    messages,
    messageLog,
    delivery,
    sweeper,
    retry,
    retention,
    metrics,
    suppressions,
    stats,
    circuits,
    async close() {
      await queues.close().catch(() => undefined);
      redis.disconnect();
      await db.$disconnect();
    },
  };
}
