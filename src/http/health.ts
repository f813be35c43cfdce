import { Router, type RequestHandler } from 'express';
import type { RedisClient } from '../lib/redis';
import type { Db } from '../db/prisma';
import { DependencyUnavailableError } from '../lib/errors';
import type { StartupState } from '../lib/startup';

async function answers(check: () => Promise<unknown>, timeoutMs = 1_500): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([
      check().then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter({ db, redis, startup }: { db: Db; redis: RedisClient; startup: StartupState }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redisOk] = await Promise.all([answers(() => db.$queryRaw`SELECT 1`), answers(() => redis.ping())]);
    const waiting = startup.pending();
    const checks = {
      postgres: postgres ? 'ok' : 'down',
      redis: redisOk ? 'ok' : 'down',
      ...(waiting.length ? { startup: 'pending' } : {}),
    };
    if (postgres && redisOk && !waiting.length) {
      res.json({ status: 'ready', checks });
      return;
    }
    const problems = [
      ...(postgres ? [] : ['postgres is not answering (DATABASE_URL)']),
      ...(redisOk ? [] : ['redis is not answering (REDIS_URL)']),
      ...waiting.map((step) => `still ${step}`),
    ];
    res.status(503).json({ error: { code: 'not_ready', message: `Not ready: ${problems.join('; ')}` }, checks });
  });
  return router;
}

/**
 * Until start-up is done, requests that would queue work answer 503 (with Retry-After, so Svix and GoTrue
 * retry) instead of waiting on a Redis connection that has not been made yet.
 */
export function whileStarting(startup: StartupState): RequestHandler {
  return (_req, _res, next) => {
    const waiting = startup.pending();
    next(waiting.length ? new DependencyUnavailableError(`Starting: still ${waiting.join('; ')}; retry later`) : undefined);
  };
}
