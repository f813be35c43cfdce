import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, parseConfig } from './config/env';
import { logConfigSummary } from './config/summary';
import { buildContainer, type Container } from './container';
import { migrate, migrationTarget } from './db/migrate';
import { errorText } from './db/unreachable';
import { createApp } from './http/app';
import { createLogger } from './lib/logger';
import { startTracing } from './lib/tracing';
import { startMetricsListener } from './metrics/listener';
import { startWorkers, type RunningWorkers } from '../workers';

/** How long in-flight jobs get to finish on SIGTERM before they are left to be retried elsewhere. */
const SHUTDOWN_GRACE_MS = 10_000;
/** Start-up retries a step that failed after 1 s, then twice as long each time, up to this. */
const MAX_RETRY_DELAY_MS = 30_000;

/** Runs one start-up step until it succeeds (or the process stops), marked pending meanwhile. */
async function untilDone(container: Container, step: string, attempt: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
  const done = container.startup.begin(step);
  try {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
      try {
        await attempt();
        return;
      } catch (err) {
        container.log.error({ err: errorText(err), retry_in_ms: delay }, `start-up: ${step} failed; retrying`);
        await sleep(delay, undefined, { signal });
      }
    }
  } finally {
    done();
  }
}

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
    steps.push(untilDone(container, `applying migrations (${target.variable})`, () => migrate(target.url, { log, variable: target.variable }), signal));
  }
  // BullMQ waits for a Redis that is down at start (ioredis reconnects) rather than failing.
  steps.push(untilDone(container, 'connecting to Redis (REDIS_URL)', () => Promise.all(container.queues.all().map((q) => q.waitUntilReady())), signal));
  await Promise.all(steps);
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

  let workers: RunningWorkers | undefined;
  const ready = startUp(container, stop.signal).then(async () => {
    if (stop.signal.aborted) return;
    if (config.ROLE === 'all' || config.ROLE === 'worker') workers = await startWorkers(container);
    log.info({ role: config.ROLE }, 'auth-relay ready');
  });
  ready.catch((err: unknown) => {
    if (!stop.signal.aborted) log.error({ err: errorText(err) }, 'start-up failed');
  });

  let server: Server | undefined;
  if (config.ROLE === 'all' || config.ROLE === 'api') {
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
    await Promise.all([serverClosed, workers?.close(SHUTDOWN_GRACE_MS)]);
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
