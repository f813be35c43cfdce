import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { RedisClient } from '../lib/redis';
import { z } from 'zod';
import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { MessageLog } from '../delivery/message-log';
import type { MessageRetry } from '../delivery/retry';
import { Channel, MessageStatus } from '../generated/prisma/enums';
import { safeEqual } from '../http/admin-auth';
import { logRequestError, toHttpError } from '../http/errors';
import { refuseUnstorableInBody } from '../http/refuse-unstorable';
import { ForbiddenError, NotFoundError } from '../lib/errors';
import { queueSnapshot, RATE_WINDOW_HOURS } from '../metrics/metrics';
import type { Queues } from '../queue/queues';
import { ASSETS } from './assets';
import { messageDetail } from './detail';
import { createLoginLimiter, LOGIN_MAX_FAILURES } from './login-limiter';
import { hourlyOverview } from './overview';
import { queuesBoard, QUEUES_BASE_PATH } from './queues-board';
import { DASHBOARD_CSP, QUEUES_CSP, securityHeaders } from './security';
import { createSessions, csrfMatches, LOGIN_CSRF_COOKIE, parseCookies, SESSION_COOKIE, SESSION_TTL_SECONDS, type Session } from './session';
import { toSuppressionJson } from '../deliverability/suppressions';
import type { ProviderHealth } from '../providers/provider-health';
import type { StatsSource, SuppressionStore } from './sources';
import {
  errorPage,
  loginPage,
  messagesPage,
  notConfiguredPage,
  overviewPage,
  suppressionsPage,
  TIME_RANGES,
  type PageContext,
} from './views';
import { messageDetailPage } from './message-page';
import { webhookPages, type WebhookPagesDeps } from './webhooks-page';

export interface DashboardDeps {
  config: Pick<Config, 'ADMIN_TOKEN' | 'QUEUE_PREFIX' | 'RETENTION_DAYS' | 'BODY_RETENTION_DAYS'>;
  db: Db;
  redis: RedisClient;
  queues: Pick<Queues, 'all'>;
  messageLog: MessageLog;
  retry: MessageRetry;
  suppressions: SuppressionStore;
  deliverability: StatsSource;
  providerHealth: Pick<ProviderHealth, 'states'>;
  outbound: WebhookPagesDeps['outbound'];
  now?: () => Date;
}

declare module 'express-serve-static-core' {
  interface Request {
    dashboardSession?: Session;
  }
}

const PAGE_SIZE = 50;
const SUPPRESSIONS_SHOWN = 200;

/** Notices after a redirect are chosen from this list by key, so a link cannot put words on the page. */
const NOTICES: Record<string, { text: string; error?: boolean }> = {
  retried: { text: 'Queued again; it is being sent now.' },
  suppressed: { text: 'Recipient suppressed: nothing more will be sent to it.' },
  released: { text: 'Recipient released.' },
  not_suppressed: { text: 'That recipient was not suppressed.', error: true },
};

const MessagesQuery = z.object({
  q: z.string().max(320).optional(),
  status: z.union([z.enum(MessageStatus), z.literal('')]).optional(),
  channel: z.union([z.enum(Channel), z.literal('')]).optional(),
  provider: z.string().max(64).optional(),
  template: z.string().max(128).optional(),
  range: z.enum(Object.keys(TIME_RANGES) as [string, ...string[]]).optional(),
  cursor: z.string().max(200).optional(),
  notice: z.string().optional(),
});

const SuppressionForm = z.object({
  channel: z.enum(Channel),
  recipient: z.string().trim().min(3, 'recipient is required').max(320),
  reason: z.string().trim().min(1).max(100).default('manual'),
  source_message_id: z.string().max(64).optional(),
  back: z.string().optional(),
});

/** Redirect targets from forms stay inside the dashboard. */
function localPath(candidate: unknown, fallback: string): string {
  return typeof candidate === 'string' && /^\/dashboard(\/[A-Za-z0-9_\-/]*)?(\?[^\\]*)?$/.test(candidate) && !candidate.startsWith('//')
    ? candidate
    : fallback;
}

const isHttps = (req: Request): boolean => req.secure || req.get('x-forwarded-proto') === 'https';

function cookie(res: Response, req: Request, name: string, value: string, maxAgeSeconds: number): void {
  res.cookie(name, value, {
    httpOnly: true,
    sameSite: 'strict',
    secure: isHttps(req),
    path: '/dashboard',
    maxAge: maxAgeSeconds * 1000,
  });
}

type Handler = (req: Request, res: Response) => Promise<void> | void;

/** The on-call web UI: server-rendered pages behind a login with ADMIN_TOKEN. */
export function dashboardRouter(deps: DashboardDeps): Router {
  const { config, db, messageLog, suppressions, deliverability, providerHealth } = deps;
  const now = deps.now ?? (() => new Date());
  const sessions = createSessions({ redis: deps.redis, prefix: config.QUEUE_PREFIX, adminToken: config.ADMIN_TOKEN ?? '' });
  const loginLimiter = createLoginLimiter({ redis: deps.redis, prefix: config.QUEUE_PREFIX });
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  for (const asset of ASSETS) {
    router.get(asset.path, (_req, res) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.type(asset.contentType).send(asset.body);
    });
  }

  const dashboardHeaders = securityHeaders(DASHBOARD_CSP);
  const queuesHeaders = securityHeaders(QUEUES_CSP);
  router.use('/dashboard', (req, res, next) => (req.path.startsWith('/queues') ? queuesHeaders : dashboardHeaders)(req, res, next));
  router.use('/dashboard', (_req, res, next) => {
    if (!config.ADMIN_TOKEN) {
      res.status(503).type('html').send(notConfiguredPage());
      return;
    }
    next();
  });

  const context = (req: Request, notice?: string): PageContext => ({
    csrf: req.dashboardSession!.csrf,
    retention: config,
    notice: notice ? NOTICES[notice] : undefined,
  });

  // ---- login ---------------------------------------------------------------------------------------------
  const showLogin = (req: Request, res: Response, status: number, error?: string): void => {
    const csrf = sessions.newToken();
    cookie(res, req, LOGIN_CSRF_COOKIE, csrf, 3600);
    res.status(status).type('html').send(loginPage({ csrf, next: localPath(req.body?.next ?? req.query.next, '/dashboard'), error }));
  };

  router.get('/dashboard/login', (req, res) => showLogin(req, res, 200));

  router.post('/dashboard/login', form, async (req, res) => {
    const cookies = parseCookies(req.get('cookie'));
    if (!csrfMatches(cookies[LOGIN_CSRF_COOKIE], req.body?._csrf)) {
      showLogin(req, res, 403, 'The form expired; please log in again.');
      return;
    }
    const address = req.ip ?? 'unknown';
    const waitSeconds = await loginLimiter.take(address);
    if (waitSeconds > 0) {
      req.log.warn({ address }, 'dashboard login refused: too many failed attempts');
      res.setHeader('Retry-After', String(waitSeconds));
      showLogin(req, res, 429, `Too many failed logins from your address (${LOGIN_MAX_FAILURES}); try again in ${Math.ceil(waitSeconds / 60)} min.`);
      return;
    }
    const token = typeof req.body?.token === 'string' ? req.body.token : '';
    if (!token || !safeEqual(token, config.ADMIN_TOKEN!)) {
      req.log.warn({ address }, 'dashboard login with a wrong token');
      showLogin(req, res, 401, 'Wrong token.');
      return;
    }
    await loginLimiter.clear(address);
    const { id } = await sessions.create();
    res.clearCookie(LOGIN_CSRF_COOKIE, { path: '/dashboard' });
    cookie(res, req, SESSION_COOKIE, id, SESSION_TTL_SECONDS);
    res.redirect(303, localPath(req.body?.next, '/dashboard'));
  });

  // ---- everything below needs a session ------------------------------------------------------------------
  router.use('/dashboard', async (req, res, next) => {
    const session = await sessions.get(parseCookies(req.get('cookie'))[SESSION_COOKIE]);
    if (!session) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.redirect(303, `/dashboard/login?next=${encodeURIComponent(req.originalUrl)}`);
      } else {
        res.status(401).type('html').send(errorPage(401, 'Your session has ended; log in again.'));
      }
      return;
    }
    req.dashboardSession = session;
    next();
  });

  /** Every state-changing form carries the session's CSRF token. */
  const post = (path: string, handler: Handler): void => {
    router.post(path, form, refuseUnstorableInBody, (req, _res, next) => {
      if (!csrfMatches(req.dashboardSession!.csrf, req.body?._csrf)) throw new ForbiddenError('Missing or wrong CSRF token; reload the page and try again', 'csrf_failed');
      next();
    }, handler);
  };

  post('/dashboard/logout', async (req, res) => {
    await sessions.destroy(parseCookies(req.get('cookie'))[SESSION_COOKIE]);
    res.clearCookie(SESSION_COOKIE, { path: '/dashboard' });
    res.redirect(303, '/dashboard/login');
  });

  // bull-board's own API changes jobs with JSON requests: a cross-site page cannot send those with our
  // SameSite=Strict cookie, and the Origin check refuses any that come from elsewhere.
  router.use(QUEUES_BASE_PATH, (req, _res, next) => {
    const origin = req.get('origin');
    if (req.method !== 'GET' && req.method !== 'HEAD' && origin && origin !== `${req.protocol}://${req.get('host')}` && origin !== `https://${req.get('host')}`) {
      throw new ForbiddenError('Cross-origin request refused', 'csrf_failed');
    }
    next();
  }, queuesBoard(deps.queues));

  // ---- pages ---------------------------------------------------------------------------------------------
  router.get('/dashboard', async (req, res) => {
    const q = MessagesQuery.parse(req.query);
    const range = TIME_RANGES[q.range ?? 'all']![1];
    const at = now();
    const [page, facets] = await Promise.all([
      messageLog.list({
        search: q.q || undefined,
        status: q.status || undefined,
        channel: q.channel || undefined,
        provider: q.provider || undefined,
        template: q.template || undefined,
        since: range === null ? undefined : new Date(at.getTime() - range * 3_600_000),
        limit: PAGE_SIZE,
        cursor: q.cursor || undefined,
      }),
      filterFacets(db),
    ]);
    const query = Object.fromEntries(Object.entries(q).filter(([k, v]) => v && k !== 'notice' && k !== 'cursor')) as Record<string, string>;
    const nextHref = page.next_cursor ? `/dashboard?${new URLSearchParams({ ...query, cursor: page.next_cursor })}` : null;
    res.type('html').send(messagesPage(context(req, q.notice), { query, rows: page.data, nextHref, ...facets, now: at }));
  });

  router.get('/dashboard/messages/:id', async (req, res) => {
    const id = String(req.params.id);
    const detail = await messageDetail(db, id, now());
    if (!detail) throw new NotFoundError(`No message ${id}; it may be older than RETENTION_DAYS (${config.RETENTION_DAYS} days).`);
    const active = await suppressions.active(detail.message.channel, detail.message.recipient);
    const suppressed = active ? toSuppressionJson(active) : null;
    res.type('html').send(messageDetailPage(context(req, typeof req.query.notice === 'string' ? req.query.notice : undefined), detail, suppressed, now()));
  });

  post('/dashboard/messages/:id/retry', async (req, res) => {
    const id = String(req.params.id);
    await deps.retry.retryMessage(id);
    res.redirect(303, `/dashboard/messages/${encodeURIComponent(id)}?notice=retried`);
  });

  router.get('/dashboard/overview', async (req, res) => {
    const at = now();
    const [hourly, rates, queues, providers] = await Promise.all([
      hourlyOverview(db, at),
      deliverability.rates(RATE_WINDOW_HOURS),
      queueSnapshot(deps.queues),
      providerHealth.states(),
    ]);
    res.type('html').send(overviewPage(context(req), { hourly, rates, queues, providers, now: at }));
  });

  router.get('/dashboard/suppressions', async (req, res) => {
    const search = typeof req.query.q === 'string' ? req.query.q.slice(0, 320) : '';
    const { data: rows } = await suppressions.list({ search: search || undefined, limit: SUPPRESSIONS_SHOWN });
    res.type('html').send(suppressionsPage(context(req, typeof req.query.notice === 'string' ? req.query.notice : undefined), { search, rows, limit: SUPPRESSIONS_SHOWN }));
  });

  post('/dashboard/suppressions', async (req, res) => {
    const input = SuppressionForm.parse(req.body);
    await suppressions.suppress({
      channel: input.channel,
      recipient: input.recipient,
      reason: 'manual',
      sourceMessageId: input.source_message_id || undefined,
      detail: input.reason === 'manual' ? {} : { note: input.reason },
    });
    res.redirect(303, withNotice(localPath(input.back, '/dashboard/suppressions'), 'suppressed'));
  });

  post('/dashboard/suppressions/release', async (req, res) => {
    const input = SuppressionForm.pick({ channel: true, recipient: true, back: true }).parse(req.body);
    const released = (await suppressions.release({ channel: input.channel, recipient: input.recipient })) !== null;
    res.redirect(303, withNotice(localPath(input.back, '/dashboard/suppressions'), released ? 'released' : 'not_suppressed'));
  });

  webhookPages({ router, post, context: (req) => context(req), outbound: deps.outbound });

  router.use('/dashboard', (req) => {
    throw new NotFoundError(`No page ${req.originalUrl.split('?')[0]}`);
  });

  // Errors on dashboard routes become pages, with the status and message the API would give.
  router.use('/dashboard', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const { status, body, headers } = toHttpError(err);
    logRequestError(req, res, err, 'dashboard request failed');
    if (headers) res.set(headers);
    res.status(status).type('html').send(errorPage(status, body.error.message));
  });

  return router;
}

const withNotice = (path: string, notice: string): string => `${path}${path.includes('?') ? '&' : '?'}notice=${notice}`;

/** The values the provider and template filters offer: small sets, read from the recent log. */
async function filterFacets(db: Db): Promise<{ providers: string[]; templates: string[] }> {
  const since = new Date(Date.now() - 7 * 86_400_000);
  const [providers, templates] = await Promise.all([
    db.$queryRaw<{ v: string }[]>`SELECT DISTINCT provider AS v FROM messages WHERE created_at >= ${since} AND provider IS NOT NULL ORDER BY 1 LIMIT 50`,
    db.$queryRaw<{ v: string }[]>`SELECT DISTINCT template AS v FROM messages WHERE created_at >= ${since} AND template IS NOT NULL ORDER BY 1 LIMIT 100`,
  ]);
  return { providers: providers.map((r) => r.v), templates: templates.map((r) => r.v) };
}
