import { SendMessageBody } from '../src/api/send-router';
import { ConfigError, parseConfig } from '../src/config/env';
import { buildContainer, type Container } from '../src/container';
import { createLogger } from '../src/lib/logger';
import { createResendWebhookParser } from '../src/providers/resend/resend-webhook';
import { interpretClerkEvent } from '../src/webhooks/clerk-event';
import { emailCreated } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { resendEvent, signedResend, TEST_RESEND_WEBHOOK_SECRET } from './helpers/provider-webhooks';

/*
 * One recipient normalizer and pattern (src/lib/recipient.ts) for every way an address comes in: what Clerk's
 * webhook accepts, a suppression accepts, and in the same spelling, so a suppression always matches the
 * messages it is meant to stop.
 */

let database: TestDatabase;
let container: Container;
beforeAll(async () => {
  database = await createTestDatabase();
  container = buildContainer(testConfig(database.url), createLogger('silent'));
});
afterAll(async () => {
  await container.close();
  await database.drop();
});

/** Each address, and the form it is kept in; null where no way in may accept it. */
const ADDRESSES: [string, string | null][] = [
  ['maria@example.com', 'maria@example.com'],
  ['Maria.Doe+Codes@Example.COM', 'maria.doe+codes@example.com'],
  ['ｍａｒｉａ＠ｅｘａｍｐｌｅ．ｏｒｇ', 'maria@example.org'],
  ['jürgen@Bücher.example', 'jürgen@xn--bcher-kva.example'],
  ['maria@example.com.', 'maria@example.com'],
  ['ma\u200Bria@example.com', 'maria@example.com'],
  ['  maria@example.com ', 'maria@example.com'],
  ['maria@localhost', null],
  ['maria@example', null],
  ['maria@example..com', null],
  ['maria@', null],
  ['@example.com', null],
  ['maria doe@example.com', null],
  ['maria;doe@example.com', null],
  ['maria@@example.com', null],
  ['<maria@example.com>', null],
  ['Maria <maria@example.com>', null],
  [`${'m'.repeat(250)}@example.com`, null],
];

function clerkRecipient(to: string): string | null {
  try {
    const outcome = interpretClerkEvent(emailCreated({ to }), 'msg_test');
    return outcome.kind === 'deliver' ? outcome.message.recipient : null;
  } catch {
    return null;
  }
}

async function suppressedRecipient(to: string): Promise<string | null> {
  try {
    return (await container.suppressions.suppress({ channel: 'email', recipient: to, reason: 'manual' })).recipient;
  } catch {
    return null;
  }
}

function sendApiRecipient(to: string): string | null {
  const parsed = SendMessageBody.safeParse({ channel: 'email', to, subject: 'Hello', text: 'Hello' });
  return parsed.success ? parsed.data.to : null;
}

it.each(ADDRESSES)('%j: Clerk, a suppression and the send API agree whether it is an address, and on its spelling', async (raw, kept) => {
  expect(clerkRecipient(raw)).toBe(kept);
  expect(await suppressedRecipient(raw)).toBe(kept);
  expect(sendApiRecipient(raw)).toBe(kept);
});

it('a provider event names its recipient in the spelling messages and suppressions keep', async () => {
  const parser = createResendWebhookParser(TEST_RESEND_WEBHOOK_SECRET);
  const { body, headers } = signedResend(resendEvent('email.delivered', { to: ['Jürgen@ＢÜCHER.example.'] }));
  const event = await parser.parseWebhook(Buffer.from(body), headers, { url: 'https://relay.example/webhooks/resend' });
  expect(event?.recipient).toBe('jürgen@xn--bcher-kva.example');
});

it('EMAIL_FROM is held to the same address pattern', () => {
  const refused = (EMAIL_FROM: string) => {
    try {
      parseConfig({ EMAIL_FROM });
      return false;
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.some((issue) => issue.startsWith('EMAIL_FROM'));
      throw err;
    }
  };
  expect(refused('auth@acme.com')).toBe(false);
  expect(refused('Acme <auth@acme.com>')).toBe(false);
  expect(refused('"Acme, Inc." <auth@acme.com>')).toBe(false);
  expect(refused('auth@acme')).toBe(true);
  expect(refused('Acme <auth@acme>')).toBe(true);
  expect(refused('auth;x@acme.com')).toBe(true);
  expect(refused('Acme <auth@acme..com>')).toBe(true);
});
