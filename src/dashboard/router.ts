import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { logRequestError, toHttpError } from '../http/errors';
import { refuseUnstorableInBody } from '../http/refuse-unstorable';
import { ForbiddenError, NotFoundError } from '../lib/errors';
import { ASSETS } from './assets';
import { errorPage, notConfiguredPage } from './layout';
import { loginRoutes } from './login-routes';
import { messagesRoutes } from './messages-routes';
import { overviewRoutes } from './overview-routes';
import type { DashboardDeps, Handler, PageRoutes } from './pages';
import { queuesBoard, QUEUES_BASE_PATH } from './queues-board';
import { DASHBOARD_CSP, QUEUES_CSP, securityHeaders } from './security';
import { createSessions, csrfMatches, parseCookies, SESSION_COOKIE, type Session } from './session';
import { suppressionsRoutes } from './suppressions-routes';
import { webhookPages } from './webhooks-page';

export type { DashboardDeps } from './pages';

declare module 'express-serve-static-core' {
  interface Request {
    dashboardSession?: Session;
  }
}

/** The pages behind the login, each in its own file: a new page is one file and one entry here. */
const PAGES: ((routes: PageRoutes) => void)[] = [messagesRoutes, overviewRoutes, suppressionsRoutes, webhookPages];

/** Notices after a redirect are chosen from this list by key, so a link cannot put words on the page. */
const NOTICES: Record<string, { text: string; error?: boolean }> = {
  retried: { text: 'Queued again; it is being sent now.' },
  suppressed: { text: 'Recipient suppressed: nothing more will be sent to it.' },
  released: { text: 'Recipient released.' },
  not_suppressed: { text: 'That recipient was not suppressed.', error: true },
};

function serveAssets(router: Router): void {
  for (const asset of ASSETS) {
    router.get(asset.path, (_req, res) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.type(asset.contentType).send(asset.body);
    });
  }
}

/** Every dashboard request: its security headers, and a 503 page while ADMIN_TOKEN is unset. */
function guard(router: Router, deps: DashboardDeps): void {
  const dashboardHeaders = securityHeaders(DASHBOARD_CSP);
  const queuesHeaders = securityHeaders(QUEUES_CSP);
  router.use('/dashboard', (req, res, next) => (req.path.startsWith('/queues') ? queuesHeaders : dashboardHeaders)(req, res, next));
  router.use('/dashboard', (_req, res, next) => {
    if (!deps.config.ADMIN_TOKEN) {
      res.status(503).type('html').send(notConfiguredPage());
      return;
    }
    next();
  });
}

function requireSession(router: Router, sessions: ReturnType<typeof createSessions>): void {
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
}

/** bull-board, mounted behind the session. */
function queuesRoutes(router: Router, deps: DashboardDeps): void {
  // bull-board's own API changes jobs with JSON requests: a cross-site page cannot send those with our
  // SameSite=Strict cookie, and the Origin check refuses any that come from elsewhere.
  router.use(
    QUEUES_BASE_PATH,
    (req, _res, next) => {
      const origin = req.get('origin');
      if (
        req.method !== 'GET' &&
        req.method !== 'HEAD' &&
        origin &&
        origin !== `${req.protocol}://${req.get('host')}` &&
        origin !== `https://${req.get('host')}`
      ) {
        throw new ForbiddenError('Cross-origin request refused', 'csrf_failed');
      }
      next();
    },
    queuesBoard(deps.queues),
  );
}

/** Errors on dashboard routes become pages, with the status and message the API would give. */
function errorPages(router: Router): void {
  router.use('/dashboard', (req) => {
    throw new NotFoundError(`No page ${req.originalUrl.split('?')[0]}`);
  });
  router.use('/dashboard', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const { status, body, headers } = toHttpError(err);
    logRequestError(req, res, err, status, 'dashboard request failed');
    if (headers) res.set(headers);
    res.status(status).type('html').send(errorPage(status, body.error.message));
  });
}

/** The on-call web UI: server-rendered pages behind a login with ADMIN_TOKEN. */
export function dashboardRouter(deps: DashboardDeps): Router {
  const { config } = deps;
  const now = deps.now ?? (() => new Date());
  const sessions = createSessions({ redis: deps.redis, prefix: config.QUEUE_PREFIX, adminToken: config.ADMIN_TOKEN ?? '' });
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  serveAssets(router);
  guard(router, deps);
  loginRoutes(router, deps, sessions);
  requireSession(router, sessions);

  /** Every state-changing form carries the session's CSRF token. */
  const post = (path: string, handler: Handler): void => {
    router.post(
      path,
      form,
      refuseUnstorableInBody,
      (req, _res, next) => {
        if (!csrfMatches(req.dashboardSession!.csrf, req.body?._csrf))
          throw new ForbiddenError('Missing or wrong CSRF token; reload the page and try again', 'csrf_failed');
        next();
      },
      handler,
    );
  };
  post('/dashboard/logout', async (req, res) => {
    await sessions.destroy(parseCookies(req.get('cookie'))[SESSION_COOKIE]);
    res.clearCookie(SESSION_COOKIE, { path: '/dashboard' });
    res.redirect(303, '/dashboard/login');
  });
  queuesRoutes(router, deps);

  const routes: PageRoutes = {
    deps,
    now,
    get: (path, handler) => router.get(path, handler),
    post,
    context: (req) => ({
      csrf: req.dashboardSession!.csrf,
      retention: config,
      notice: typeof req.query.notice === 'string' && Object.hasOwn(NOTICES, req.query.notice) ? NOTICES[req.query.notice] : undefined,
    }),
  };
  for (const page of PAGES) page(routes);

  errorPages(router);
  return router;
}
