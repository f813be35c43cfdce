import { ConfigError, parseConfig } from '../src/config/env';
import { migrate, migrationTarget } from '../src/db/migrate';
import { createLogger } from '../src/lib/logger';

/**
 * `npm run migrate` (a deployment's one-shot migrate job, e.g. the compose `migrate` service): create the
 * database if missing and apply pending migrations through MIGRATE_DATABASE_URL, else DATABASE_URL.
 */
async function run(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger(config.LOG_LEVEL);
  const target = migrationTarget(config);
  const { applied } = await migrate(target.url, { log, variable: target.variable });
  log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
}

run().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `migrate failed: ${(err as Error).message}`);
  process.exit(1);
});
