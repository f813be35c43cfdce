import { Router } from 'express';
import { z } from 'zod';
import type { Stats } from '../deliverability/stats';

const StatsQuery = z.strictObject({ window: z.string().default('24h') });

export function statsApiRouter({ stats }: { stats: Pick<Stats, 'compute'> }): Router {
  const router = Router();
  router.get('/stats', async (req, res) => {
    const { window } = StatsQuery.parse(req.query);
    res.json(await stats.compute(window));
  });
  return router;
}
