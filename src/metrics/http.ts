import { Router, type RequestHandler } from 'express';
import type { Metrics } from './metrics';

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

export function metricsRouter(metrics: Pick<Metrics, 'text' | 'contentType'>): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const body = await metrics.text();
    res.setHeader('Content-Type', metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(body);
  });
  return router;
}
