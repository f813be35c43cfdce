import express from 'express';
import type { Redis } from 'ioredis';
import { messagesApiRouter } from '../api/messages-router';
import { statsApiRouter } from '../api/stats-router';
import { suppressionsApiRouter } from '../api/suppressions-router';
import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { MessageLog } from '../delivery/message-log';
import type { MessageService } from '../delivery/message-service';
import type { ProviderEvents } from '../deliverability/provider-events';
import type { Stats } from '../deliverability/stats';
import type { SuppressionService } from '../deliverability/suppressions';
import type { Logger } from '../lib/logger';
import { clerkWebhookRouter } from '../webhooks/clerk-router';
import { providerWebhookRouter } from '../webhooks/provider-router';
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
  providerEvents: ProviderEvents;
  suppressions: SuppressionService;
  stats: Stats;
}

/** Routes only: each concern's router parses and validates, then calls its domain service. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestContext(deps.log));

  app.use(healthRouter(deps));
  app.use(clerkWebhookRouter(deps));
  app.use(providerWebhookRouter(deps));
  app.use(
    '/api',
    requireAdminToken(deps.config.ADMIN_TOKEN),
    express.json({ limit: '100kb' }),
    messagesApiRouter(deps),
    suppressionsApiRouter(deps),
    statsApiRouter(deps),
  );

  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
