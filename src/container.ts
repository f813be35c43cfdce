import { createIdempotencyStore, type IdempotencyStore } from './api/idempotency';
import type { Config } from './config/env';
import { createDeliverabilityRates, type StatsSource } from './dashboard/sources';
import { createPrisma, type Db } from './db/prisma';
import { createAlerts, type Alerts } from './deliverability/alerts';
import { clerkUsers, createClerkWriteback, type ClerkWriteback } from './deliverability/clerk-writeback';
import { createProviderEvents, type ProviderEvents } from './deliverability/provider-events';
import { suppressingSendRefusals } from './deliverability/send-refusals';
import { createStats, type Stats } from './deliverability/stats';
import { createSuppressionService, type SuppressionService } from './deliverability/suppressions';
import { createDeliveryService, type DeliveryService } from './delivery/delivery-service';
import { createMessageLog, type MessageLog } from './delivery/message-log';
import { createMessageService, type MessageService } from './delivery/message-service';
import { createMessageStore, type MessageStore } from './delivery/message-store';
import { createRetention, type Retention } from './delivery/retention';
import { createMessageRetry, type MessageRetry } from './delivery/retry';
import { createSweeper, type Sweeper } from './delivery/sweeper';
import type { Logger } from './lib/logger';
import { createRedisConnection, redisKeys, type RedisClient, type RedisKeys } from './lib/redis';
import { createStartupState, type StartupState } from './lib/startup';
import { createMetrics, type Metrics } from './metrics/metrics';
import { systemResolve, type Resolve } from './outbound/address-policy';
import { createOutboundDeliveries, type OutboundDeliveries } from './outbound/deliveries';
import { createWebhookEndpoints, type WebhookEndpoints } from './outbound/endpoints';
import { createOutboundPublisher, type OutboundPublisher } from './outbound/events';
import { createOutboundMetrics, type OutboundMetrics } from './outbound/outbound-metrics';
import { createProviders, providerLimits } from './providers';
import { createProviderHealth, type ProviderHealth } from './providers/provider-health';
import type { FetchText } from './providers/ses/sns-webhook';
import type { ProviderChains, WebhookProvider } from './providers/types';
import { createQueues, type Queues } from './queue/catalog';
import { createTemplates, type Templates } from './templates/templates';
import { createVerificationRateLimiter } from './verification/rate-limiter';
import { createVerificationService, type VerificationService } from './verification/verification-service';

/**
 * The composition root: the one place that builds config-dependent objects and wires them together.
 * Everything else receives its dependencies as arguments, so tests can pass real or fake ones.
 */
export interface Container {
  config: Config;
  log: Logger;
  db: Db;
  redis: RedisClient;
  /** Where each queue and limiter keeps its keys (hash-tagged in cluster mode). */
  redisKeys: RedisKeys;
  queues: Queues;
  providers: ProviderChains;
  /** The same adapters as in `providers`, for `/webhooks/<provider>`, including providers not in a chain. */
  webhookProviders: WebhookProvider[];
  metrics: Metrics;
  providerHealth: ProviderHealth;
  /** The only writer of message statuses and timelines. */
  messageStore: MessageStore;
  messages: MessageService;
  messageLog: MessageLog;
  delivery: DeliveryService;
  sweeper: Sweeper;
  retry: MessageRetry;
  retention: Retention;
  suppressions: SuppressionService;
  providerEvents: ProviderEvents;
  clerkWriteback: ClerkWriteback;
  stats: Stats;
  /** The stats as the overview page and the rate gauges read them. */
  deliverability: StatsSource;
  alerts: Alerts;
  /** Outbound event webhooks: the publisher every state change reports to, the endpoints, their deliveries. */
  outbound: { publisher: OutboundPublisher; endpoints: WebhookEndpoints; deliveries: OutboundDeliveries; metrics: OutboundMetrics };
  templates: Templates;
  idempotency: IdempotencyStore;
  verifications: VerificationService;
  /** What start-up still waits for (src/main.ts marks its steps); `/readyz` reports it. */
  startup: StartupState;
  close(): Promise<void>;
}

export interface ContainerOverrides {
  providers?: ProviderChains;
  /** Tests that kill workers shorten the send lease to match their short BullMQ lock. */
  sendLeaseMs?: number;
  /** Tests that watch shared gauges change shorten how often they are read. */
  sharedGaugesIntervalMs?: number;
  /** Tests only: serves the SNS signing certificate the test made (production fetches it from amazonaws.com). */
  snsFetchText?: FetchText;
  /** Tests of the safety net shorten how long a message must sit untouched before the sweeper re-queues it. */
  sweepStaleAfterMs?: number;
  /** Tests only: resolves outbound webhook hosts (production uses the system resolver). */
  outboundResolve?: Resolve;
}

/** Postgres, the producer's Redis connection and the queues on it, each logging its connection errors. */
function connectStores(config: Config, log: Logger) {
  const db = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const redis = createRedisConnection(config, 'producer');
  redis.on('error', (err) => log.warn({ err: err.message, variable: 'REDIS_URL' }, 'redis connection error (REDIS_URL)'));
  const keys = redisKeys(config.QUEUE_PREFIX, config.REDIS_MODE);
  const queues = createQueues(redis, keys);
  for (const queue of queues.all()) queue.on('error', (err) => log.warn({ queue: queue.name, err: err.message }, 'queue error'));
  return { db, redis, keys, queues };
}

function buildProviderHealth(config: Config, redis: RedisClient, log: Logger): ProviderHealth {
  return createProviderHealth({
    redis,
    prefix: config.QUEUE_PREFIX,
    providers: [...new Set([...config.EMAIL_PROVIDERS, ...config.SMS_PROVIDERS])],
    limits: providerLimits(config),
    failureThreshold: config.PROVIDER_CIRCUIT_FAILURES,
    openMs: config.PROVIDER_CIRCUIT_OPEN_SECONDS * 1000,
    probeLeaseMs: config.PROVIDER_TIMEOUT_MS + 5_000,
    maxWaitMs: 5_000,
    maxPauseMs: config.PROVIDER_MAX_PAUSE_SECONDS * 1000,
    log,
  });
}

/** Deliverability feedback: provider events, Clerk write-back, alerts. */
function buildFeedback(
  config: Config,
  deps: {
    db: Db;
    store: MessageStore;
    queues: Queues;
    suppressions: SuppressionService;
    metrics: Metrics;
    stats: Stats;
    publisher: OutboundPublisher;
    log: Logger;
  },
): Pick<Container, 'providerEvents' | 'clerkWriteback' | 'alerts'> {
  const { db, store, queues, suppressions, metrics, stats, publisher, log } = deps;
  const providerEvents = createProviderEvents({ db, store, queues, suppressions, metrics, log });
  const clerk = config.CLERK_SECRET_KEY ? clerkUsers({ secretKey: config.CLERK_SECRET_KEY, apiUrl: config.CLERK_API_URL }) : null;
  const clerkWriteback = createClerkWriteback({ db, store, clerk, suppressions, log });
  const alerts = createAlerts({ db, stats, config, log, onAlert: publisher.publishAlert });
  return { providerEvents, clerkWriteback, alerts };
}

/** Outbound event webhooks to the tenant's own systems. */
function buildOutbound(
  config: Config,
  deps: { db: Db; queues: Queues; alerts: Alerts; publisher: OutboundPublisher; metrics: Metrics; log: Logger; resolve?: Resolve },
): Container['outbound'] {
  const { db, queues, alerts, publisher, log } = deps;
  const policy = { production: config.NODE_ENV === 'production', allowList: config.OUTBOUND_WEBHOOK_ALLOWED_HOSTS };
  const resolve = deps.resolve ?? systemResolve;
  const metrics = createOutboundMetrics(deps.metrics.registry);
  return {
    publisher,
    metrics,
    endpoints: createWebhookEndpoints({ db, policy, resolve, publisher, log }),
    deliveries: createOutboundDeliveries({
      db,
      queue: queues.outboundWebhooks,
      policy,
      resolve,
      alerts,
      publisher,
      metrics,
      log,
      retentionDays: config.RETENTION_DAYS,
    }),
  };
}

/** Apps that send their own messages and codes. */
function buildVerifications(
  config: Config,
  deps: { db: Db; redis: RedisClient; keys: RedisKeys; messages: MessageService; log: Logger },
): Pick<Container, 'templates' | 'idempotency' | 'verifications'> {
  const { db, redis, keys, messages, log } = deps;
  const templates = createTemplates({ dir: config.TEMPLATES_DIR, appName: config.APP_NAME ?? config.EMAIL_FROM_NAME });
  const idempotency = createIdempotencyStore({ redis, prefix: config.QUEUE_PREFIX });
  const verificationLimiter = createVerificationRateLimiter({
    redis,
    keyPrefix: keys.group('verify'),
    limits: {
      cooldownSeconds: config.VERIFICATION_RESEND_COOLDOWN_SECONDS,
      perHour: config.VERIFICATION_LIMIT_PER_HOUR,
      perDay: config.VERIFICATION_LIMIT_PER_DAY,
      perIpHour: config.VERIFICATION_LIMIT_PER_IP_HOUR,
      wrongChecksPerIpHour: config.VERIFICATION_CHECK_LIMIT_PER_IP_HOUR,
    },
  });
  const verifications = createVerificationService({ db, messages, limiter: verificationLimiter, templates, config, log });
  return { templates, idempotency, verifications };
}

export function buildContainer(config: Config, log: Logger, overrides: ContainerOverrides = {}): Container {
  const { db, redis, keys, queues } = connectStores(config, log);
  const adapters = createProviders({ config, db, snsFetchText: overrides.snsFetchText });
  const providerHealth = buildProviderHealth(config, redis, log);

  // Delivery log and the send pipeline.
  const stats = createStats({ db });
  const deliverability = createDeliverabilityRates(stats, config);
  const metrics = createMetrics({
    redis,
    prefix: config.QUEUE_PREFIX,
    queues,
    deliverability,
    providerHealth,
    log,
    sharedGaugesIntervalMs: overrides.sharedGaugesIntervalMs,
  });
  const publisher = createOutboundPublisher({ db, queue: queues.outboundWebhooks, log });
  const messageStore = createMessageStore({ db, log, onChange: publisher.publishMessageChange });
  const messages = createMessageService({ db, config, store: messageStore, queues, log });
  const suppressions = createSuppressionService({ db, config, queues, log, onChange: publisher.publishSuppression });
  const { chains: providers, webhooks: webhookProviders } = suppressingSendRefusals(
    { chains: overrides.providers ?? adapters.chains, webhooks: adapters.webhooks },
    { suppressions, queues, log },
  );
  const delivery = createDeliveryService({
    db,
    store: messageStore,
    providers,
    suppressions,
    health: providerHealth,
    metrics,
    messages,
    config,
    log,
    leaseMs: overrides.sendLeaseMs,
  });
  const sweeper = createSweeper({ db, store: messageStore, queues, log, staleAfterMs: overrides.sweepStaleAfterMs });
  const messageLog = createMessageLog(db);
  const retry = createMessageRetry({ db, store: messageStore, sweeper, log });
  const retention = createRetention({ db, config, log });

  const feedback = buildFeedback(config, { db, store: messageStore, queues, suppressions, metrics, stats, publisher, log });
  const { alerts } = feedback;
  const outbound = buildOutbound(config, { db, queues, alerts, publisher, metrics, log, resolve: overrides.outboundResolve });
  const apps = buildVerifications(config, { db, redis, keys, messages, log });

  return {
    config,
    log,
    db,
    redis,
    redisKeys: keys,
    queues,
    providers,
    webhookProviders,
    metrics,
    providerHealth,
    messageStore,
    messages,
    messageLog,
    delivery,
    sweeper,
    retry,
    retention,
    suppressions,
    ...feedback,
    stats,
    deliverability,
    outbound,
    ...apps,
    startup: createStartupState(),
    async close() {
      await metrics.close();
      await queues.close().catch(() => undefined);
      adapters.close();
      redis.disconnect();
      await db.$disconnect();
    },
  };
}
