import type { Server } from 'node:http';
import express from 'express';
import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import type { StartupState } from '../lib/startup';
import type { Metrics } from '../metrics/metrics';
import { errorHandler, notFound } from './errors';
import { healthRouter } from './health';
import { metricsRouter } from './metrics';

/** The port a `ROLE=worker` process listens on for metrics when METRICS_PORT is unset (OpenTelemetry's usual one). */
export const WORKER_METRICS_PORT = 9464;

export function metricsPort(config: Pick<Config, 'METRICS_PORT' | 'ROLE'>): number | undefined {
  return config.METRICS_PORT ?? (config.ROLE === 'worker' ? WORKER_METRICS_PORT : undefined);
}

/** `/metrics`, `/healthz` and `/readyz` alone, for a process of any role (a worker has no other port). */
export interface MetricsAppDeps {
  config: Pick<Config, 'METRICS_PORT' | 'METRICS_TOKEN' | 'ROLE'>;
  db: Db;
  redis: RedisClient;
  startup: StartupState;
  metrics: Metrics;
  log: Logger;
}

export function createMetricsApp(deps: MetricsAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(deps));
  app.use(metricsRouter(deps.metrics, deps.config.METRICS_TOKEN));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * Starts the metrics listener when the role has one. An explicit METRICS_PORT that cannot be bound stops
 * start-up; the worker's default port, when taken (several workers on one host), is logged and skipped, since
 * the worker still sends without it.
 */
export async function startMetricsListener(deps: MetricsAppDeps): Promise<Server | undefined> {
  const { config, log } = deps;
  const port = metricsPort(config);
  if (port === undefined) return undefined;
  const server = createMetricsApp(deps).listen(port);
  try {
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  } catch (err) {
    if (config.METRICS_PORT !== undefined) throw new Error(`METRICS_PORT=${port}: ${(err as Error).message}`, { cause: err });
    log.error({ port, err: (err as Error).message }, `metrics listener not started: port ${port} is taken; set METRICS_PORT`);
    return undefined;
  }
  log.info({ port }, 'metrics listening');
  return server;
}
