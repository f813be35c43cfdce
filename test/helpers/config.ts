import { randomBytes } from 'node:crypto';
import { parseConfig, type Config } from '../../src/config/env';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_CLERK_SECRET = `whsec_${Buffer.from('clerk-test-signing-secret-32bytes!').toString('base64')}`;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A config as the service would parse it, on a test database and a queue prefix of its own. */
export function testConfig(databaseUrl: string, env: Record<string, string | undefined> = {}): Config {
  return parseConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: `t-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'silent',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    CLERK_WEBHOOK_SIGNING_SECRET: TEST_CLERK_SECRET,
    ...env,
  });
}
