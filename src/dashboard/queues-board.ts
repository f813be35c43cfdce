import type { RequestHandler, Router } from 'express';
import type { Queues } from '../queue/catalog';

export const QUEUES_BASE_PATH = '/dashboard/queues';

/** Keys of job data that are safe to show: our jobs carry ids and counters only, anything else is hidden. */
const VISIBLE_JOB_DATA = new Set(['messageId', 'providerIndex', 'providerAttempts', 'task']);

export function redactJobData(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  return Object.fromEntries(
    Object.entries(data as Record<string, unknown>).map(([k, v]) => [k, VISIBLE_JOB_DATA.has(k) ? v : '[redacted]']),
  );
}

type RenderEngine = (path: string, options: object, callback: (err: Error | null, html?: string) => void) => void;

/** bull-board's page loads its fonts from Google, which the CSP (rightly) refuses: the UI uses system fonts. */
const EXTERNAL_FONTS = /<link[^>]+fonts\.(googleapis|gstatic)\.com[^>]*>\s*/g;

/** A way back to the dashboard on every bull-board page (its own "misc links" menu hides behind an icon). */
const BACK_LINK =
  '<a href="/dashboard" id="back-to-dashboard" style="position:fixed;right:12px;bottom:12px;z-index:1000;padding:6px 12px;border-radius:6px;background:#0969da;color:#fff;font:14px system-ui,sans-serif;text-decoration:none">← auth-relay dashboard</a>';

export function withoutExternalFonts(page: string): string {
  return page.replace(EXTERNAL_FONTS, '').replace('<body class="preload">', `<body class="preload">${BACK_LINK}`);
}

/**
 * bull-board's UI and API for our queues; the dashboard router puts it behind the login. Built on its first
 * request: bull-board and what it brings (lodash, valibot, ejs, its Express app) hold about 5 MB of heap that a
 * relay whose queue page nobody opens would carry for its whole life.
 */
export function queuesBoard(queues: Pick<Queues, 'all'>): RequestHandler {
  let board: Promise<Router> | undefined;
  return (req, res, next) => {
    board ??= buildQueuesBoard(queues);
    board.then(
      (app) => app(req, res, next),
      (err: unknown) => {
        board = undefined; // the next request tries again
        next(err);
      },
    );
  };
}

async function buildQueuesBoard(queues: Pick<Queues, 'all'>): Promise<Router> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUES_BASE_PATH);
  createBullBoard({
    queues: queues.all().map((queue) => {
      const adapter = new BullMQAdapter(queue);
      adapter.setFormatter('data', redactJobData);
      return adapter;
    }),
    serverAdapter,
    options: {
      uiConfig: { boardTitle: 'auth-relay queues', miscLinks: [{ text: 'Back to the dashboard', url: '/dashboard' }], hideDocsLink: true },
    },
  });
  // The adapter's own Express app renders bull-board's index.ejs; its output is rewritten once rendered.
  const app = serverAdapter.getRouter() as Router & {
    engines: Record<string, RenderEngine>;
    engine(ext: string, fn: RenderEngine): unknown;
  };
  const render = app.engines['.ejs']!;
  app.engine('ejs', (path, options, callback) =>
    render(path, options, (err, page) => callback(err, page === undefined ? page : withoutExternalFonts(page))),
  );
  return app;
}
