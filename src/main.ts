import type { Server } from 'node:http';
import { ConfigError, parseConfig } from './config/env';
import { buildContainer } from './container';
import { migrate } from './db/migrate';
import { createApp } from './http/app';
import { createLogger } from './lib/logger';
import { startMetricsListener } from './metrics/listener';
import { startWorkers, type RunningWorkers } from '../workers';

/** How long in-flight jobs get to finish on SIGTERM before they are left to be retried elsewhere. */
const SHUTDOWN_GRACE_MS = 10_000;

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
  const log = createLogger(config.LOG_LEVEL);
  await migrate(config.DATABASE_URL, log);

  const container = buildContainer(config, log);
  await container.queues.send.waitUntilReady();

  let server: Server | undefined;
  let workers: RunningWorkers | undefined;
  if (config.ROLE === 'all' || config.ROLE === 'worker') workers = await startWorkers(container);
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
