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
import { sendApiRouter } from '../api/send-router';
import type { IdempotencyStore } from '../api/idempotency';
import type { Templates } from '../templates/templates';
import { verificationRouter } from '../verification/verification-router';
import type { VerificationService } from '../verification/verification-service';
import { supabaseHookRouter } from '../webhooks/supabase-router';
import { requireApiKey } from './api-key-auth';
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
  templates: Templates;
  idempotency: IdempotencyStore;
  verifications: VerificationService;
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
  app.use(supabaseHookRouter(deps));
  app.use('/v1', requireApiKey(deps.config.API_KEYS), express.json({ limit: '256kb' }), sendApiRouter(deps), verificationRouter(deps));
  app.use('/api', requireAdminToken(deps.config.ADMIN_TOKEN), express.json({ limit: '100kb' }), messagesApiRouter(deps));
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
