import { Router, type Request, type RequestHandler } from 'express';
import { bearerToken, safeEqual } from './admin-auth';
import { UnauthorizedError } from '../lib/errors';
import type { Metrics } from '../metrics/metrics';

/** Outcome of a webhook from its answer; a receiver refines a 200 by setting `res.locals.webhookOutcome`. */
function outcomeOf(status: number, refined: unknown): string {
  if (typeof refined === 'string') return refined;
  if (status >= 200 && status < 300) return 'accepted';
  if (status === 401) return 'unauthorized';
  if (status === 413) return 'too_large';
  if (status >= 400 && status < 500) return 'invalid';
  if (status === 503) return 'unavailable';
  return 'error';
}

const KNOWN_SOURCES = new Set(['clerk', 'supabase', 'resend', 'autosend', 'unosend']);

/** Counts every request to /webhooks/<source> by source and outcome, whichever receiver answers it. */
export function countWebhooks(metrics: Pick<Metrics, 'webhookReceived'>): RequestHandler {
  return (req, res, next) => {
    const segment = req.path.split('/')[1] ?? '';
    const source = KNOWN_SOURCES.has(segment) ? segment : 'other';
    res.on('finish', () => metrics.webhookReceived(source, outcomeOf(res.statusCode, res.locals.webhookOutcome)));
    next();
  };
}

/** Mounts whose requests a guard may answer before any route matches (auth, sessions): labelled by mount. */
const MOUNTS = new Set(['api', 'v1', 'dashboard', 'webhooks']);

/**
 * The route template a request matched (`/api/messages/:id`), never its raw path, so the label's values are
 * bounded by the code; a request a guard answered before routing is `/<mount>/*`, anything else `unmatched`.
 */
export function routeTemplate(req: Request): string {
  const path: unknown = req.route?.path;
  const segments = req.originalUrl.split('?')[0]!.split('/').filter(Boolean);
  if (typeof path === 'string' && !path.includes('*')) {
    // An error passed on from the route has left its router, which resets `req.baseUrl`: the mount is then
    // what the URL has before the route's own segments.
    const own = path.split('/').filter(Boolean).length;
    const mount = req.baseUrl || (segments.length > own ? `/${segments.slice(0, segments.length - own).join('/')}` : '');
    return `${mount}${path}`;
  }
  return MOUNTS.has(segments[0] ?? '') ? `/${segments[0]}/*` : 'unmatched';
}

/** Times every answer into `http_request_duration_seconds` by method, route template and status. */
export function timeRequests(metrics: Pick<Metrics, 'httpRequest'>): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequest({ method: req.method, route: routeTemplate(req), statusCode: res.statusCode, seconds });
    });
    next();
  };
}

/** `/metrics`, behind `Authorization: Bearer <METRICS_TOKEN>` when that is set. */
export function metricsRouter(metrics: Pick<Metrics, 'text' | 'contentType'>, token: string | undefined): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (token) {
      const presented = bearerToken(req.get('authorization'));
      if (!presented || !safeEqual(presented, token)) throw new UnauthorizedError('Missing or wrong metrics token (METRICS_TOKEN)');
    }
    const body = await metrics.text();
    res.setHeader('Content-Type', metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(body);
  });
  return router;
}
