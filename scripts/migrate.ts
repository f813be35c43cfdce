import { ConfigError, parseConfig } from '../src/config/env';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/lib/logger';

/** `npm run migrate`: create the database if missing and apply pending migrations. */
async function run(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger(config.LOG_LEVEL);
  const { applied } = await migrate(config.DATABASE_URL, log);
  log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
}

run().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `migrate failed: ${(err as Error).message}`);
  process.exit(1);
});
