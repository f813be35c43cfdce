import express from 'express';
import { messagesApiRouter } from './api/messages-router';
import { sendApiRouter } from './api/send-router';
import { statsApiRouter } from './api/stats-router';
import { suppressionsApiRouter } from './api/suppressions-router';
import { webhookEndpointsApiRouter } from './api/webhook-endpoints-router';
import type { Container } from './container';
import { dashboardRouter } from './dashboard/router';
import { traceRequests, tracingEnabled } from './lib/tracing';
import { verificationRouter } from './verification/verification-router';
import { clerkWebhookRouter } from './webhooks/clerk-router';
import { providerWebhookRouter } from './webhooks/provider-router';
import { supabaseHookRouter } from './webhooks/supabase-router';
import { requireAdminToken } from './http/admin-auth';
import { requireApiKey } from './http/api-key-auth';
import { requestContext } from './http/context';
import { refuseNulInUrl, refuseUnstorableInBody } from './http/refuse-unstorable';
import { errorHandler, notFound } from './http/errors';
import { healthRouter, whileStarting } from './http/health';
import { countWebhooks, metricsRouter, routeTemplate, timeRequests } from './http/metrics';

export type AppDeps = Omit<Container, 'close'>;

/** Routes only: each concern's router parses and validates, then calls its domain service. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Express hashes every answer into an ETag by default. Nothing here is worth revalidating (webhook and API
  // answers are live, dashboard pages no-store, static assets immutable), and hashing each answer was 40-50 µs
  // of a webhook's CPU.
  app.set('etag', false);
  if (deps.config.TRUST_PROXY !== undefined) app.set('trust proxy', deps.config.TRUST_PROXY);
  if (tracingEnabled()) app.use(traceRequests(routeTemplate));
  app.use(timeRequests(deps.metrics));
  app.use(requestContext(deps.log));
  app.use(refuseNulInUrl);

  app.use(healthRouter(deps));
  app.use(metricsRouter(deps.metrics, deps.config.METRICS_TOKEN));

  // Inbound webhooks: signature-verified on the raw body by each router.
  app.use('/webhooks', countWebhooks(deps.metrics), whileStarting(deps.startup));
  app.use(clerkWebhookRouter(deps));
  app.use(supabaseHookRouter(deps));
  app.use(providerWebhookRouter(deps));

  // Apps sending through auth-relay (API keys).
  app.use(
    '/v1',
    whileStarting(deps.startup),
    requireApiKey(deps.config.API_KEYS),
    express.json({ limit: '256kb' }),
    refuseUnstorableInBody,
    sendApiRouter(deps),
    verificationRouter(deps),
  );

  // The on-call side (ADMIN_TOKEN): JSON API and dashboard.
  app.use(
    '/api',
    requireAdminToken(deps.config.ADMIN_TOKEN),
    express.json({ limit: '100kb' }),
    refuseUnstorableInBody,
    messagesApiRouter(deps),
    suppressionsApiRouter(deps),
    statsApiRouter(deps),
    webhookEndpointsApiRouter(deps),
  );
  app.use(dashboardRouter(deps));

  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
