import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * An idle process carries only the SDKs of the providers it is configured for (issue 13 item 4, 14 item 7):
 * each SDK is tens of MB of module tree. A child Node process loads the built composition root, as
 * `dist/src/main.js` does, builds the providers from config and lists the SDK modules Node then holds.
 */
const SDKS = ['@aws-sdk/client-sesv2', 'twilio', 'postmark', 'nodemailer'];
const dist = path.resolve(__dirname, '..', 'dist', 'src');

function sdksLoaded(env: Record<string, string>): string[] {
  const script = `
    require(${JSON.stringify(path.join(dist, 'container.js'))});
    const { parseConfig } = require(${JSON.stringify(path.join(dist, 'config', 'env.js'))});
    const { createProviders } = require(${JSON.stringify(path.join(dist, 'providers', 'index.js'))});
    createProviders({ config: parseConfig(process.env), db: {} }).close();
    const loaded = Object.keys(require.cache);
    const sdks = ${JSON.stringify(SDKS)}.filter((sdk) => loaded.some((file) => file.includes('/node_modules/' + sdk + '/')));
    process.stdout.write(JSON.stringify(sdks));
  `;
  const base = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/unused',
    REDIS_URL: 'redis://127.0.0.1:6379',
  };
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8' })) as string[];
}

test('with the default config no provider SDK is loaded', () => {
  expect(sdksLoaded({})).toEqual([]);
});

test('each configured provider loads its own SDK and no other', () => {
  expect(sdksLoaded({ SES_REGION: 'eu-west-1', EMAIL_PROVIDERS: 'ses' })).toEqual(['@aws-sdk/client-sesv2']);
  expect(
    sdksLoaded({
      TWILIO_ACCOUNT_SID: 'AC' + '0'.repeat(32),
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_FROM: '+15005550006',
      SMS_PROVIDERS: 'twilio',
    }),
  ).toEqual(['twilio']);
  expect(sdksLoaded({ POSTMARK_SERVER_TOKEN: 'server-token', EMAIL_PROVIDERS: 'postmark' })).toEqual(['postmark']);
  expect(sdksLoaded({ SMTP_URL: 'smtp://127.0.0.1:2525', EMAIL_PROVIDERS: 'smtp' })).toEqual(['nodemailer']);
});
