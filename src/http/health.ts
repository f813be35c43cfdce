import { Router } from 'express';
import type { RedisClient } from '../lib/redis';
import type { Db } from '../db/prisma';

async function answers(check: () => Promise<unknown>, timeoutMs = 1_500): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([check().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter({ db, redis }: { db: Db; redis: RedisClient }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redisOk] = await Promise.all([answers(() => db.$queryRaw`SELECT 1`), answers(() => redis.ping())]);
    const checks = { postgres: postgres ? 'ok' : 'down', redis: redisOk ? 'ok' : 'down' };
    if (postgres && redisOk) {
      res.json({ status: 'ready', checks });
      return;
    }
    const down = Object.entries(checks).filter(([, v]) => v === 'down').map(([k]) => k);
    res.status(503).json({ error: { code: 'not_ready', message: `Not answering: ${down.join(', ')}` }, checks });
  });
  return router;
}
