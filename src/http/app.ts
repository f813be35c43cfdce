import express from 'express';
import type { Redis } from 'ioredis';
import { messagesApiRouter } from '../api/messages-router';
import type { Config } from '../config/env';
import { dashboardRouter, type DashboardDeps } from '../dashboard/router';
import type { Db } from '../db/prisma';
import type { MessageLog } from '../delivery/message-log';
import type { MessageService } from '../delivery/message-service';
import type { MessageRetry } from '../delivery/retry';
import type { Logger } from '../lib/logger';
import { countWebhooks, metricsRouter } from '../metrics/http';
import type { Metrics } from '../metrics/metrics';
import type { Queues } from '../queue/queues';
import { clerkWebhookRouter } from '../webhooks/clerk-router';
import { requireAdminToken } from './admin-auth';
import { requestContext } from './context';
import { errorHandler, notFound } from './errors';
import { healthRouter } from './health';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: Db;
  redis: Redis;
  messages: MessageService;
  messageLog: MessageLog;
  retry: MessageRetry;
  metrics: Metrics;
  queues: Queues;
  suppressions: DashboardDeps['suppressions'];
  stats: DashboardDeps['stats'];
  circuits: DashboardDeps['circuits'];
}

/** Routes only: each concern's router parses and validates, then calls its domain service. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestContext(deps.log));

  app.use(healthRouter(deps));
  app.use(metricsRouter(deps.metrics));
  app.use('/webhooks', countWebhooks(deps.metrics));
  app.use(clerkWebhookRouter(deps));
  app.use('/api', requireAdminToken(deps.config.ADMIN_TOKEN), express.json({ limit: '100kb' }), messagesApiRouter(deps));
  app.use(dashboardRouter(deps));

  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
