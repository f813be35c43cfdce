import express, { type Request, type Response, type Router } from 'express';
import { safeEqual } from '../http/admin-auth';
import { createLoginLimiter, LOGIN_MAX_FAILURES } from './login-limiter';
import { loginPage } from './layout';
import { localPath, type DashboardDeps } from './pages';
import { csrfMatches, LOGIN_CSRF_COOKIE, parseCookies, SESSION_COOKIE, SESSION_TTL_SECONDS, type createSessions } from './session';

const isHttps = (req: Request): boolean => req.secure || req.get('x-forwarded-proto') === 'https';

export function cookie(res: Response, req: Request, name: string, value: string, maxAgeSeconds: number): void {
  res.cookie(name, value, {
    httpOnly: true,
    sameSite: 'strict',
    secure: isHttps(req),
    path: '/dashboard',
    maxAge: maxAgeSeconds * 1000,
  });
}

/** The login form and its POST: CSRF-checked, rate-limited per address, ADMIN_TOKEN compared in constant time. */
export function loginRoutes(
  router: Router,
  deps: Pick<DashboardDeps, 'config' | 'redis'>,
  sessions: ReturnType<typeof createSessions>,
): void {
  const { config } = deps;
  const loginLimiter = createLoginLimiter({ redis: deps.redis, prefix: config.QUEUE_PREFIX });
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  const showLogin = (req: Request, res: Response, status: number, error?: string): void => {
    const csrf = sessions.newToken();
    cookie(res, req, LOGIN_CSRF_COOKIE, csrf, 3600);
    res
      .status(status)
      .type('html')
      .send(loginPage({ csrf, next: localPath(req.body?.next ?? req.query.next, '/dashboard'), error }));
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
      showLogin(
        req,
        res,
        429,
        `Too many failed logins from your address (${LOGIN_MAX_FAILURES}); try again in ${Math.ceil(waitSeconds / 60)} min.`,
      );
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
}
