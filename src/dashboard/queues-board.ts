import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Router } from 'express';
import type { Queues } from '../queue/queues';

export const QUEUES_BASE_PATH = '/dashboard/queues';

/** Keys of job data that are safe to show: our jobs carry ids and counters only, anything else is hidden. */
const VISIBLE_JOB_DATA = new Set(['messageId', 'providerIndex', 'providerAttempts', 'task']);

export function redactJobData(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  return Object.fromEntries(
    Object.entries(data as Record<string, unknown>).map(([k, v]) => [k, VISIBLE_JOB_DATA.has(k) ? v : '[redacted]']),
  );
}

/** bull-board's UI and API for our queues; the dashboard router puts it behind the login. */
export function queuesBoard(queues: Pick<Queues, 'all'>): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUES_BASE_PATH);
  createBullBoard({
    queues: queues.all().map((queue) => {
      const adapter = new BullMQAdapter(queue);
      adapter.setFormatter('data', redactJobData);
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'auth-relay queues', miscLinks: [{ text: 'Back to the dashboard', url: '/dashboard' }], hideDocsLink: true } },
  });
  return serverAdapter.getRouter() as Router;
}
