// First: it may re-execute the process with its heap flags (heap-flags.ts).
import './apply-heap-flags';
import type { Server } from 'node:http';
import path from 'node:path';
import { ConfigError, parseConfig } from './config/env';
import { logConfigSummary } from './config/summary';
import { buildContainer, type Container } from './container';
import { migrate, migrationTarget } from './db/migrate';
import { errorText } from './db/unreachable';
import { redisReady, SHUTDOWN_GRACE_MS, untilDone } from './lifecycle';
import { createLogger } from './lib/logger';
import { startTracing } from './lib/tracing';
import { startMetricsListener } from './http/metrics-listener';
import { superviseWorkerThread } from './worker-supervisor';
import { startWorkers } from '../workers';

/** Past the workers' own grace, a worker thread that has not stopped is terminated. */
const WORKER_THREAD_DEADLINE_MS = SHUTDOWN_GRACE_MS + 5_000;

/**
 * What must succeed before the process is ready: migrations (unless MIGRATE_ON_START=false) and a first Redis
 * connection. The HTTP server listens meanwhile, so `/healthz` answers and `/readyz` says what is missing;
 * a dependency that is down at start is waited for, not fatal.
 */
async function startUp(container: Container, signal: AbortSignal): Promise<void> {
  const { config, log } = container;
  const steps: Promise<void>[] = [];
  if (config.MIGRATE_ON_START) {
    const target = migrationTarget(config);
    steps.push(
      untilDone(
        container,
        `applying migrations (${target.variable})`,
        () => migrate(target.url, { log, variable: target.variable }),
        signal,
      ),
    );
  }
  steps.push(redisReady(container, signal));
  await Promise.all(steps);
}

/**
 * Starts the workers: in this process's event loop for ROLE=worker; for ROLE=all in a worker thread, so that
 * sending never holds up the receiver (and uses another core), its metrics exported with the receiver's.
 * Returns how to stop them at once, and when they first take jobs.
 */
function runWorkers(container: Container): { close(): Promise<void>; ready: Promise<void> } {
  if (container.config.ROLE === 'worker') {
    const workers = startWorkers(container);
    return { close: () => workers.then((w) => w.close(SHUTDOWN_GRACE_MS)), ready: workers.then(() => undefined) };
  }
  const thread = superviseWorkerThread(path.join(__dirname, 'worker-thread.js'), container.log);
  container.metrics.addSource(() => thread.metrics());
  return { close: () => thread.stop(WORKER_THREAD_DEADLINE_MS), ready: thread.ready };
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const tracing = await startTracing(config);
  const log = createLogger(config.LOG_LEVEL);
  logConfigSummary(log, config);
  const container = buildContainer(config, log);
  const stop = new AbortController();

  let workers: ReturnType<typeof runWorkers> | undefined;
  const ready = startUp(container, stop.signal).then(async () => {
    if (stop.signal.aborted) return;
    if (config.ROLE === 'all' || config.ROLE === 'worker') await (workers = runWorkers(container)).ready;
    log.info({ role: config.ROLE }, 'auth-relay ready');
  });
  ready.catch((err: unknown) => {
    if (!stop.signal.aborted) log.error({ err: errorText(err) }, 'start-up failed');
  });

  let server: Server | undefined;
  if (config.ROLE === 'all' || config.ROLE === 'api') {
    // Loaded only by a role that serves HTTP: the app pulls in the dashboard and bull-board.
    const { createApp } = await import('./app');
    const app = createApp(container);
    server = app.listen(config.PORT);
    await new Promise<void>((resolve, reject) => server!.once('listening', resolve).once('error', reject));
    log.info(
      { port: config.PORT, role: config.ROLE, email_providers: config.EMAIL_PROVIDERS, sms_providers: config.SMS_PROVIDERS },
      'auth-relay listening',
    );
  }

  const metricsServer = await startMetricsListener(container);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop.abort();
    const serverClosed = server
      ? new Promise<void>((resolve) => {
          server!.close(() => resolve());
          server!.closeIdleConnections();
        })
      : Promise.resolve();
    metricsServer?.close();
    metricsServer?.closeIdleConnections();
    await Promise.all([serverClosed, workers?.close()]);
    await container.close();
    await tracing.shutdown();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('auth-relay failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
