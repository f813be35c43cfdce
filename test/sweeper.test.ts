import type { NewMessage } from '../src/delivery/message-service';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';

let database: TestDatabase;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  // No workers: the messages stay queued, as when the workers are down or behind.
  harness = await startHarness(testConfig(database.url));
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const codeEmail = (issuedMinutesAgo: number, maxAgeSeconds: number): NewMessage => ({
  source: 'api',
  recipient: 'user@example.com',
  payload: { channel: 'email', subject: '482913 is your code', html: '<p>482913</p>', text: '482913' },
  secrets: ['482913'],
  codeBearing: true,
  issuedAt: new Date(Date.now() - issuedMinutesAgo * 60_000),
  maxAgeSeconds,
});

const clearPayload = async (messageId: string) => (await database.db.messageContent.findUniqueOrThrow({ where: { messageId } })).payload;

describe('sweeper', () => {
  it('clears the code of a message still queued past its lifetime, and keeps live codes and plain messages', async () => {
    const { messages, sweeper } = harness.container;
    const expired = await messages.accept(codeEmail(10, 300));
    const live = await messages.accept(codeEmail(1, 300));
    const plain = await messages.accept({
      source: 'api',
      recipient: 'user@example.com',
      payload: { channel: 'email', subject: 'Welcome', html: '<p>Hi</p>', text: 'Hi' },
      secrets: [],
      codeBearing: false,
      maxAgeSeconds: 0,
    });

    expect(await sweeper.sweep()).toEqual({ requeued: 0, purged: 1 });
    expect(await clearPayload(expired.messageId)).toBeNull();
    expect(await clearPayload(live.messageId)).toMatchObject({ subject: '482913 is your code' });
    expect(await clearPayload(plain.messageId)).toMatchObject({ subject: 'Welcome' });
    // What the log keeps was redacted from the start.
    const kept = await database.db.messageContent.findUniqueOrThrow({ where: { messageId: expired.messageId } });
    expect(JSON.stringify(kept.redacted)).not.toContain('482913');

    expect(await sweeper.sweep()).toEqual({ requeued: 0, purged: 0 });
  });
});
