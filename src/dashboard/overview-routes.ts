import { queueSnapshot, RATE_WINDOW_HOURS } from '../metrics/metrics';
import { hourlyOverview } from './overview';
import { overviewPage } from './overview-page';
import type { PageRoutes } from './pages';

export function overviewRoutes({ deps, now, get, context }: PageRoutes): void {
  get('/dashboard/overview', async (req, res) => {
    const at = now();
    const [hourly, rates, queues, providers] = await Promise.all([
      hourlyOverview(deps.db, at),
      deps.deliverability.rates(RATE_WINDOW_HOURS),
      queueSnapshot(deps.queues),
      deps.providerHealth.states(),
    ]);
    res.type('html').send(overviewPage(context(req), { hourly, rates, queues, providers, now: at }));
  });
}
