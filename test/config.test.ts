import { ConfigError, parseConfig } from '../src/config/env';
import { migrationTarget } from '../src/db/migrate';
import { otpMaxAgeSeconds } from '../src/delivery/otp-max-age';

const issuesOf = (env: Record<string, string>): string[] => {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('runs with nothing set: local Postgres and Redis, outbox for both channels', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      ROLE: 'all',
      DATABASE_URL: 'postgresql://postgres:postgres@127.0.0.1:5432/auth_relay',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'auth-relay',
      OTP_MAX_AGE_SECONDS: 600,
      PROVIDER_ATTEMPTS: 3,
      RETENTION_DAYS: 30,
      BODY_RETENTION_DAYS: 7,
      EMAIL_PROVIDERS: ['outbox'],
      SMS_PROVIDERS: ['outbox'],
      CLERK_API_URL: 'https://api.clerk.com',
    });
  });

  it('defaults capacity to the figures once fixed in code, and migrates on start through DATABASE_URL', () => {
    expect(parseConfig({})).toMatchObject({
      DATABASE_POOL_SIZE: 10,
      SEND_CONCURRENCY: 100,
      EVENT_CONCURRENCY: 10,
      WRITEBACK_CONCURRENCY: 5,
      MIGRATE_ON_START: true,
    });
    expect(migrationTarget(parseConfig({})).variable).toBe('DATABASE_URL');
    expect(migrationTarget(parseConfig({ MIGRATE_DATABASE_URL: 'postgresql://direct:5432/db' }))).toEqual({
      url: 'postgresql://direct:5432/db',
      variable: 'MIGRATE_DATABASE_URL',
    });
    expect(parseConfig({ MIGRATE_ON_START: 'false', SEND_CONCURRENCY: '50' })).toMatchObject({
      MIGRATE_ON_START: false,
      SEND_CONCURRENCY: 50,
    });
  });

  it('defaults the verification limits to the issue: 6 digits, 5 attempts, 3 an hour, 10 a day, 60 s cooldown', () => {
    expect(parseConfig({})).toMatchObject({
      VERIFICATION_CODE_LENGTH: 6,
      VERIFICATION_MAX_ATTEMPTS: 5,
      VERIFICATION_LIMIT_PER_HOUR: 3,
      VERIFICATION_LIMIT_PER_DAY: 10,
      VERIFICATION_RESEND_COOLDOWN_SECONDS: 60,
      VERIFICATION_LIMIT_PER_IP_HOUR: 20,
      VERIFICATION_CHECK_LIMIT_PER_IP_HOUR: 30,
    });
  });

  it('takes EMAIL_FROM as a bare address or with a display name', () => {
    expect(parseConfig({ EMAIL_FROM: 'auth@acme.com' }).EMAIL_FROM).toBe('auth@acme.com');
    expect(parseConfig({ EMAIL_FROM: ' "Acme, Inc." <auth@auth.acme.com> ' }).EMAIL_FROM).toBe('"Acme, Inc." <auth@auth.acme.com>');
  });

  it('reads TRUST_PROXY as Express takes it', () => {
    expect(parseConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(parseConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(parseConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).TRUST_PROXY).toBe('10.0.0.0/8, 127.0.0.1');
    expect(parseConfig({}).TRUST_PROXY).toBeUndefined();
  });

  it('gives SMS codes 5 minutes unless told otherwise, and never longer than OTP_MAX_AGE_SECONDS', () => {
    expect(otpMaxAgeSeconds(parseConfig({}), 'sms')).toBe(300);
    expect(otpMaxAgeSeconds(parseConfig({}), 'email')).toBe(600);
    expect(otpMaxAgeSeconds(parseConfig({ OTP_MAX_AGE_SECONDS: '120' }), 'sms')).toBe(120);
    expect(otpMaxAgeSeconds(parseConfig({ OTP_MAX_AGE_SECONDS: '900' }), 'sms')).toBe(300);
    expect(otpMaxAgeSeconds(parseConfig({ OTP_MAX_AGE_SECONDS: '120', SMS_OTP_MAX_AGE_SECONDS: '240' }), 'sms')).toBe(240);
  });

  it('takes several Redis nodes in cluster and sentinel mode', () => {
    expect(parseConfig({ REDIS_MODE: 'cluster', REDIS_URL: 'redis://a:7000, redis://b:7001' })).toMatchObject({ REDIS_MODE: 'cluster' });
    expect(
      parseConfig({ REDIS_MODE: 'sentinel', REDIS_URL: 'redis://s1:26379,redis://s2:26379', REDIS_SENTINEL_MASTER: 'm' }),
    ).toMatchObject({
      REDIS_SENTINEL_MASTER: 'm',
    });
    expect(parseConfig({}).REDIS_MODE).toBe('standalone');
  });

  it('treats empty values as unset', () => {
    expect(parseConfig({ PORT: '', ADMIN_TOKEN: '' })).toMatchObject({ PORT: 3000, ADMIN_TOKEN: undefined });
  });

  it('defaults the email chain to the providers whose keys are set, resend first', () => {
    expect(parseConfig({ AUTOSEND_API_KEY: 'as_1', RESEND_API_KEY: 're_1' }).EMAIL_PROVIDERS).toEqual(['resend', 'autosend']);
    expect(parseConfig({ UNOSEND_API_KEY: 'un_1' }).SMS_PROVIDERS).toEqual(['unosend']);
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT: /],
    [{ DATABASE_URL: 'mysql://localhost/x' }, /^DATABASE_URL: must be a postgresql:\/\/ URL/],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL: /],
    [{ REDIS_URL: 'redis://a:7000,http://b:7001', REDIS_MODE: 'cluster' }, /^REDIS_URL: must be redis:\/\/ URLs/],
    [{ REDIS_URL: 'redis://a:7000,redis://b:7001' }, /^REDIS_URL: lists several nodes; set REDIS_MODE=cluster or REDIS_MODE=sentinel/],
    [{ REDIS_MODE: 'replicated' }, /^REDIS_MODE: /],
    [{ REDIS_MODE: 'sentinel' }, /^REDIS_SENTINEL_MASTER: must be set when REDIS_MODE=sentinel/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ ROLE: 'both' }, /^ROLE: /],
    [{ TRUST_PROXY: 'everyone' }, /^TRUST_PROXY: must be a hop count or the proxies' addresses\/subnets/],
    // `true` believes the left-most X-Forwarded-For entry, which the client writes: any limit per IP is void.
    [
      { TRUST_PROXY: 'true' },
      /^TRUST_PROXY: `true` trusts whatever address the client claims; set the number of proxies in front \(e\.g\. 1\) or their addresses\/subnets/,
    ],
    [{ OTP_MAX_AGE_SECONDS: '-1' }, /^OTP_MAX_AGE_SECONDS: /],
    [{ ADMIN_TOKEN: 'short' }, /^ADMIN_TOKEN: must be at least 16 characters/],
    [{ CLERK_WEBHOOK_SIGNING_SECRET: 'secret' }, /^CLERK_WEBHOOK_SIGNING_SECRET: must look like whsec_/],
    [{ EMAIL_PROVIDERS: 'resend,sendgrid' }, /^EMAIL_PROVIDERS\.1: /],
    [{ EMAIL_FROM: 'Acme auth@acme.com>' }, /^EMAIL_FROM: must look like auth@acme.com or "Acme <auth@acme.com>"/],
    [{ EMAIL_PROVIDERS: 'resend' }, /^EMAIL_PROVIDERS: "resend" is listed but RESEND_API_KEY is not set/],
    [{ EMAIL_PROVIDERS: 'outbox,outbox' }, /^EMAIL_PROVIDERS: lists a provider twice/],
    [{ VERIFICATION_EXPIRY: 'lunch=300' }, /^VERIFICATION_EXPIRY/],
    [{ VERIFICATION_EXPIRY: 'login=5' }, /^VERIFICATION_EXPIRY/],
    [{ VERIFICATION_CODE_LENGTH: '3' }, /^VERIFICATION_CODE_LENGTH: /],
    [{ VERIFICATION_SECRET: 'short' }, /^VERIFICATION_SECRET: must be at least 32 characters/],
    [{ NODE_ENV: 'production' }, /^EMAIL_PROVIDERS: the outbox provider sends nothing and is refused when NODE_ENV=production/],
    [{ MIGRATE_DATABASE_URL: 'mysql://db/x' }, /^MIGRATE_DATABASE_URL: must be a postgresql:\/\/ URL/],
    [{ MIGRATE_ON_START: 'no' }, /^MIGRATE_ON_START: must be true or false/],
    [{ DATABASE_POOL_SIZE: '0' }, /^DATABASE_POOL_SIZE: /],
    [{ SEND_CONCURRENCY: 'many' }, /^SEND_CONCURRENCY: /],
    [{ EVENT_CONCURRENCY: '-1' }, /^EVENT_CONCURRENCY: /],
    [{ WRITEBACK_CONCURRENCY: '2.5' }, /^WRITEBACK_CONCURRENCY: /],
  ])('rejects %j naming the variable', (env, message) => {
    expect(issuesOf(env as Record<string, string>)).toContainEqual(expect.stringMatching(message));
  });
});

const SID = `AC${'0'.repeat(32)}`;

describe('config of the SMTP, SES, Postmark and Twilio providers', () => {
  it('takes them in any order, with their defaults', () => {
    const config = parseConfig({
      EMAIL_PROVIDERS: 'postmark,ses,smtp',
      SMS_PROVIDERS: 'twilio,outbox',
      SMTP_URL: 'smtps://u:p@smtp.example.com:465',
      SES_REGION: 'eu-west-1',
      POSTMARK_SERVER_TOKEN: 'pm',
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_FROM: '+15005550006',
    });
    expect(config).toMatchObject({
      EMAIL_PROVIDERS: ['postmark', 'ses', 'smtp'],
      SMS_PROVIDERS: ['twilio', 'outbox'],
      SMTP_POOL: 5,
      SMTP_REQUIRE_TLS: true,
      POSTMARK_MESSAGE_STREAM: 'outbound',
      POSTMARK_API_URL: 'https://api.postmarkapp.com',
    });
    expect(parseConfig({ SMTP_REQUIRE_TLS: 'false' }).SMTP_REQUIRE_TLS).toBe(false);
  });

  it('names the variable a listed provider is missing', () => {
    expect(issuesOf({ EMAIL_PROVIDERS: 'smtp,ses,postmark' })).toEqual([
      'EMAIL_PROVIDERS: "smtp" is listed but SMTP_URL is not set',
      'EMAIL_PROVIDERS: "ses" is listed but SES_REGION is not set',
      'EMAIL_PROVIDERS: "postmark" is listed but POSTMARK_SERVER_TOKEN is not set',
    ]);
    expect(issuesOf({ SMS_PROVIDERS: 'twilio', TWILIO_ACCOUNT_SID: SID })).toEqual([
      'SMS_PROVIDERS: "twilio" is listed but neither TWILIO_AUTH_TOKEN nor TWILIO_API_KEY + TWILIO_API_SECRET is set',
      'SMS_PROVIDERS: "twilio" is listed but neither TWILIO_FROM nor TWILIO_MESSAGING_SERVICE_SID is set',
    ]);
  });

  it('refuses malformed values, naming the variable', () => {
    const issues = issuesOf({
      SMTP_URL: 'http://smtp.example.com',
      SMTP_REQUIRE_TLS: 'yes',
      SES_REGION: 'Ireland',
      TWILIO_ACCOUNT_SID: 'SK123',
      PUBLIC_URL: 'ftp://x',
    });
    for (const variable of ['SMTP_URL', 'SMTP_REQUIRE_TLS', 'SES_REGION', 'TWILIO_ACCOUNT_SID', 'PUBLIC_URL']) {
      expect(issues.some((i) => i.startsWith(`${variable}:`))).toBe(true);
    }
  });
});
