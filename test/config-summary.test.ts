import { ConfigError, parseConfig } from '../src/config/env';
import { describeConfig, summarizeConfig } from '../src/config/summary';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness } from './helpers/harness';
import { emailCreated, postClerkEvent } from './helpers/clerk-events';

const WHSEC = `whsec_${Buffer.from('a-signing-secret-of-32-bytes-long').toString('base64')}`;

/** Everything a production relay for Clerk with Resend needs. */
const complete = {
  NODE_ENV: 'production',
  CLERK_WEBHOOK_SIGNING_SECRET: WHSEC,
  CLERK_SECRET_KEY: 'sk_live_x',
  SUPABASE_HOOK_SECRET: `v1,${WHSEC}`,
  API_KEYS: 'ar_key_0123456789',
  VERIFICATION_SECRET: 'v'.repeat(32),
  ADMIN_TOKEN: 'admin-token-0123456789',
  RESEND_API_KEY: 're_live_x',
  RESEND_WEBHOOK_SECRET: WHSEC,
  AUTOSEND_WEBHOOK_SECRET: 'autosend-secret',
  UNOSEND_API_KEY: 'un_live_x',
  EMAIL_FROM: 'Acme <auth@acme.com>',
};

const refusal = (env: Record<string, string | undefined>): string[] => {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
};

describe('the start-up summary', () => {
  it('says what a complete configuration does, and finds nothing missing', () => {
    const summary = summarizeConfig(parseConfig(complete));
    expect(summary).toEqual({
      sources: ['clerk', 'supabase', 'api', 'verification'],
      email_providers: ['resend'],
      sms_providers: ['unosend'],
      email_from: 'Acme <auth@acme.com>',
      not_configured: [],
      problems: [],
    });
    expect(describeConfig(summary)).toBe(
      'configuration: sources: clerk, supabase, api, verification | email: resend from Acme <auth@acme.com> | sms: unosend',
    );
  });

  it('names each unset secret with the routes that answer 503 because of it', () => {
    const summary = summarizeConfig(parseConfig({ RESEND_API_KEY: 're_x', EMAIL_FROM_DOMAIN: 'acme.com' }));
    expect(summary.sources).toEqual([]);
    expect(summary.email_from).toBe('<local part from the event>@acme.com');
    expect(summary.not_configured).toEqual([
      { variable: 'CLERK_WEBHOOK_SIGNING_SECRET', routes: ['POST /webhooks/clerk'] },
      { variable: 'SUPABASE_HOOK_SECRET', routes: ['POST /webhooks/supabase'] },
      { variable: 'API_KEYS', routes: ['/v1/*'] },
      { variable: 'VERIFICATION_SECRET', routes: ['POST /v1/verifications', 'POST /v1/verifications/check'] },
      { variable: 'ADMIN_TOKEN', routes: ['/api/*', '/dashboard'] },
      { variable: 'RESEND_WEBHOOK_SECRET', routes: ['POST /webhooks/resend'] },
      { variable: 'AUTOSEND_WEBHOOK_SECRET', routes: ['POST /webhooks/autosend'] },
    ]);
    expect(summary.problems).toEqual([
      'no source is configured: set CLERK_WEBHOOK_SIGNING_SECRET, SUPABASE_HOOK_SECRET or API_KEYS, or nothing will arrive',
      "SMS goes to the outbox, which sends nothing (development only): set a provider's key",
      "resend's delivery events (bounces, complaints) are refused until RESEND_WEBHOOK_SECRET is set",
    ]);
    expect(describeConfig(summary)).toContain('503 until set: CLERK_WEBHOOK_SIGNING_SECRET (POST /webhooks/clerk); SUPABASE_HOOK_SECRET');
  });

  it('warns that a provider key without EMAIL_FROM or EMAIL_FROM_DOMAIN cannot send any email', () => {
    const summary = summarizeConfig(parseConfig({ ...complete, NODE_ENV: 'development', EMAIL_FROM: undefined }));
    expect(summary.email_from).toBeNull();
    expect(summary.problems).toEqual([
      'no From address: every email will fail with missing_from; set EMAIL_FROM ("Acme <auth@acme.com>") or EMAIL_FROM_DOMAIN',
    ]);
    expect(describeConfig(summary)).toContain('email: resend from (no From)');
  });

  it('warns that the outbox sends nothing, and that it needs a From too to show one', () => {
    const summary = summarizeConfig(parseConfig({ CLERK_WEBHOOK_SIGNING_SECRET: WHSEC, CLERK_SECRET_KEY: 'sk_x' }));
    expect(summary.email_providers).toEqual(['outbox']);
    expect(summary.problems).toEqual([
      "email goes to the outbox, which sends nothing (development only): set a provider's key and EMAIL_FROM",
      "SMS goes to the outbox, which sends nothing (development only): set a provider's key",
    ]);
  });

  it('warns that bounces are not written back to Clerk without CLERK_SECRET_KEY', () => {
    expect(summarizeConfig(parseConfig({ ...complete, CLERK_SECRET_KEY: undefined })).problems).toEqual([
      'bounces are not written back to Clerk users until CLERK_SECRET_KEY is set',
    ]);
  });
});

describe('production', () => {
  it('refuses to start with an email chain that has no From address, naming what to set', () => {
    expect(refusal({ ...complete, EMAIL_FROM: undefined })).toEqual([
      'EMAIL_FROM: set EMAIL_FROM ("Acme <auth@acme.com>") or EMAIL_FROM_DOMAIN: without a From address every email fails (missing_from)',
    ]);
    expect(refusal({ ...complete, EMAIL_FROM: undefined, EMAIL_FROM_DOMAIN: 'acme.com' })).toEqual([]);
    expect(refusal(complete)).toEqual([]);
  });
});

describe('a route whose secret is unset', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('answers 503 naming the variable, logged as a warning without a stack, not an error', async () => {
    const harness = await startHarness(testConfig(database.url, { CLERK_WEBHOOK_SIGNING_SECRET: undefined }));
    try {
      const res = await postClerkEvent(harness.request, emailCreated());
      expect(res.status).toBe(503);
      expect((await json(res)).error.message).toMatch(/CLERK_WEBHOOK_SIGNING_SECRET/);
      const lines = harness.logs.lines.map((l) => JSON.parse(l) as { level: string; msg: string; err?: unknown });
      const about = lines.filter((l) => /CLERK_WEBHOOK_SIGNING_SECRET/.test(JSON.stringify(l)));
      expect(about).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^Set CLERK_WEBHOOK_SIGNING_SECRET/) })]);
      expect(about[0]).not.toHaveProperty('err');
      expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    } finally {
      await harness.close();
    }
  });
});
