import { randomBytes } from 'node:crypto';
import { TEST_API_KEY, postV1 } from './helpers/api';
import { emailCreated, postClerkEvent } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { newSupabaseSecret, sendEmailHook, sendSmsHook, standardWebhookHeaders } from './helpers/supabase';
import { resolveFrom } from '../src/delivery/from-address';

/**
 * One address normalizer and one pattern for every way an address comes in, so a suppression cannot be
 * bypassed by another spelling; header text on one line whatever the source; a Supabase fallback dedupe key
 * that survives a rotation of SUPABASE_HOOK_SECRET.
 */

let database: TestDatabase;
let harness: Harness;
const oldSecret = newSupabaseSecret();
const newSecret = newSupabaseSecret();

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url, { API_KEYS: TEST_API_KEY, SUPABASE_HOOK_SECRET: oldSecret, APP_NAME: 'Acme' }));
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const rid = (): string => randomBytes(5).toString('hex');
const admin = (path: string, init: RequestInit = {}) =>
  harness.request(path, {
    ...init,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
  });
const postSupabase = (payload: unknown, secret = oldSecret, on: Harness = harness) => {
  const body = JSON.stringify(payload);
  return on.request('/webhooks/supabase', { method: 'POST', headers: standardWebhookHeaders(secret, body), body });
};

describe('one address normalizer', () => {
  it('a suppression holds against a trailing dot, a zero-width space, a fullwidth letter or capitals, from every source', async () => {
    const local = `x${rid()}`;
    const address = `${local}@example.org`;
    expect((await admin('/api/suppressions', { method: 'POST', body: JSON.stringify({ recipient: address }) })).status).toBe(201);
    const variants = [
      `${local}@example.org.`,
      `${local}\u200b@example.org`,
      `\uff58${local.slice(1)}@example.org`,
      `${local.toUpperCase()}@EXAMPLE.ORG`,
      `${local}@exa\u00admple.org`,
    ];
    for (const variant of variants) {
      expect(await harness.container.suppressions.active('email', variant)).toMatchObject({ recipient: address });
      const api = await json(await postV1(harness, '/messages', { channel: 'email', to: variant, subject: 'Hi', text: 'Hi' }));
      const clerk = await json(await postClerkEvent(harness.request, emailCreated({ to: variant })));
      const supabase = await postSupabase(sendEmailHook('signup', { user: { email: variant } }));
      expect(supabase.status).toBe(200);
      for (const id of [api.message_id, clerk.message_id]) {
        expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({
          recipient: address,
          recipientDomain: 'example.org',
        });
      }
      // Adding it again finds the same entry; a lookup by any spelling finds the messages.
      expect(await json(await admin('/api/suppressions', { method: 'POST', body: JSON.stringify({ recipient: variant }) }))).toMatchObject({
        recipient: address,
      });
      const listed = await json(await admin(`/api/messages?recipient=${encodeURIComponent(variant)}`));
      expect(listed.data.length).toBeGreaterThanOrEqual(2);
    }
    expect(await database.db.message.count({ where: { recipient: { not: address }, OR: variants.map((v) => ({ recipient: v })) } })).toBe(
      0,
    );
  });

  it('every source accepts exactly the addresses a suppression accepts', async () => {
    const addresses = [
      'user@localhost',
      'a@b.co',
      'ok+tag@example.co.uk',
      'a b@example.com',
      'a@b..example',
      '<a@example.com>',
      'a@example.com,b@example.com',
      'a@',
    ];
    const verdicts = [];
    for (const address of addresses) {
      const suppress = (
        await admin('/api/suppressions', {
          method: 'POST',
          body: JSON.stringify({ recipient: address, expires_at: new Date(Date.now() + 60_000).toISOString() }),
        })
      ).status;
      const api = (await postV1(harness, '/messages', { channel: 'email', to: address, subject: 'Hi', text: 'Hi' })).status;
      const clerk = (await postClerkEvent(harness.request, emailCreated({ to: address }))).status;
      const supabase = (await postSupabase(sendEmailHook('signup', { user: { email: address } }))).status;
      verdicts.push([address, suppress === 201, api === 202, clerk === 202, supabase === 200]);
    }
    expect(verdicts).toEqual(
      addresses.map((a) => {
        const ok = ['a@b.co', 'ok+tag@example.co.uk'].includes(a);
        return [a, ok, ok, ok, ok];
      }),
    );
  });
});

describe('header text on one line', () => {
  it('CR/LF in the subject or the From name becomes a space, for Clerk, /v1 and EMAIL_FROM_NAME alike', async () => {
    const injected = 'Your code\r\nBcc: attacker@example.net';
    const clerk = await json(
      await postClerkEvent(
        harness.request,
        emailCreated({ data: { subject: injected, data: { otp_code: '111111', app: { name: 'Acme\nBcc: attacker@example.net' } } } }),
      ),
    );
    const api = await json(
      await postV1(harness, '/messages', { channel: 'email', to: `h-${rid()}@example.com`, subject: injected, text: 'Hi' }),
    );
    for (const id of [clerk.message_id, api.message_id]) {
      const content = await database.db.messageContent.findUniqueOrThrow({ where: { messageId: id } });
      const payload = content.payload as { subject: string; appName?: string };
      expect(payload.subject).toBe('Your code Bcc: attacker@example.net');
      expect(payload.appName ?? '').not.toMatch(/[\r\n]/);
      expect((await database.db.message.findUniqueOrThrow({ where: { id } })).subject).not.toMatch(/[\r\n]/);
    }
    const from = resolveFrom(
      { EMAIL_FROM: undefined, EMAIL_FROM_DOMAIN: 'acme.example', EMAIL_FROM_NAME: 'Acme\r\nBcc: attacker@example.net' },
      {},
    );
    expect(from).toBe('"Acme Bcc: attacker@example.net" <noreply@acme.example>');
  });
});

describe('Supabase dedupe without metadata.uuid', () => {
  it('a retry that lands on an instance with the rotated SUPABASE_HOOK_SECRET is the same message', async () => {
    const rotated = await startHarness(testConfig(database.url, { SUPABASE_HOOK_SECRET: `${newSecret} ${oldSecret}`, APP_NAME: 'Acme' }));
    try {
      for (const payload of [sendEmailHook('magiclink', { withMetadata: false }), sendSmsHook({ withMetadata: false, otp: '904412' })]) {
        expect((await postSupabase(payload, oldSecret)).status).toBe(200);
        // GoTrue's retry: the same payload, a new webhook-id, and this time the instance that lists the new secret first.
        expect((await postSupabase(payload, oldSecret, rotated)).status).toBe(200);
        expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(1);
        const stored = await database.db.message.findFirstOrThrow({ where: { userId: payload.user.id } });
        // Hashed: neither the code nor the token hash is in it.
        expect(stored.externalId).toMatch(/^supabase:h_[0-9a-f]{32}$/);
      }
    } finally {
      await rotated.close();
    }
  });
});
