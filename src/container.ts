import type { Redis } from 'ioredis';
import type { Config } from './config/env';
import { createPrisma, type Db } from './db/prisma';
import { createDeliveryService, type DeliveryService } from './delivery/delivery-service';
import { createMessageLog, type MessageLog } from './delivery/message-log';
import { createMessageService, type MessageService } from './delivery/message-service';
import { createSweeper, type Sweeper } from './delivery/sweeper';
import type { Logger } from './lib/logger';
import { createProviderChains, providerLimits } from './providers';
import { createProviderHealth, type ProviderHealth } from './providers/provider-health';
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
  providerHealth: ProviderHealth;
  messages: MessageService;
  messageLog: MessageLog;
  delivery: DeliveryService;
  sweeper: Sweeper;
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

  const providerHealth = createProviderHealth({
    redis,
    prefix: config.QUEUE_PREFIX,
    providers: [...new Set([...config.EMAIL_PROVIDERS, ...config.SMS_PROVIDERS])],
    limits: providerLimits(config),
    failureThreshold: config.PROVIDER_CIRCUIT_FAILURES,
    openMs: config.PROVIDER_CIRCUIT_OPEN_SECONDS * 1000,
    probeLeaseMs: config.PROVIDER_TIMEOUT_MS + 5_000,
    maxWaitMs: 5_000,
    log,
  });

  const messages = createMessageService({ db, queues, log });
  const delivery = createDeliveryService({ db, providers, health: providerHealth, config, log });
  const sweeper = createSweeper({ db, queues, log });
  const messageLog = createMessageLog(db);

  return {
    config,
    log,
    db,
    redis,
    queues,
    providers,
    providerHealth,
    messages,
    messageLog,
    delivery,
    sweeper,
    async close() {
      await queues.close().catch(() => undefined);
      redis.disconnect();
      await db.$disconnect();
    },
  };
}
