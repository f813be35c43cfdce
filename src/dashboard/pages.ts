import type { Request, Response } from 'express';
import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { MessageLog } from '../delivery/message-log';
import type { MessageRetry } from '../delivery/retry';
import type { RedisClient } from '../lib/redis';
import type { ProviderHealth } from '../providers/provider-health';
import type { Queues } from '../queue/catalog';
import type { PageContext } from './layout';
import type { StatsSource, SuppressionStore } from './sources';
import type { WebhookPagesOutbound } from './webhooks-page';

export interface DashboardDeps {
  config: Pick<Config, 'ADMIN_TOKEN' | 'QUEUE_PREFIX' | 'RETENTION_DAYS' | 'BODY_RETENTION_DAYS'>;
  db: Db;
  redis: RedisClient;
  queues: Pick<Queues, 'all'>;
  messageLog: MessageLog;
  retry: MessageRetry;
  suppressions: SuppressionStore;
  deliverability: StatsSource;
  providerHealth: Pick<ProviderHealth, 'states'>;
  outbound: WebhookPagesOutbound;
  now?: () => Date;
}

export type Handler = (req: Request, res: Response) => Promise<void> | void;

/**
 * What a page's routes are given: everything below runs behind the login. A page is one file exporting a
 * function of this, listed once in router.ts.
 */
export interface PageRoutes {
  deps: DashboardDeps;
  now: () => Date;
  get(path: string, handler: Handler): void;
  /** A state-changing form: parsed, refused without the session's CSRF token. */
  post(path: string, handler: Handler): void;
  /** The page frame's context: the session's CSRF token, the retention, a notice named in the query. */
  context(req: Request): PageContext;
}

/** Redirect targets from forms stay inside the dashboard. */
export function localPath(candidate: unknown, fallback: string): string {
  return typeof candidate === 'string' && /^\/dashboard(\/[A-Za-z0-9_\-/]*)?(\?[^\\]*)?$/.test(candidate) && !candidate.startsWith('//')
    ? candidate
    : fallback;
}

export const withNotice = (path: string, notice: string): string => `${path}${path.includes('?') ? '&' : '?'}notice=${notice}`;
