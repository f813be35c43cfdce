import type { NewMessage } from '../src/delivery/message-service';
import { startWorkers } from '../workers';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';
import { FAKE_RESEND_KEY, resendAnswers, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';

/** Long enough that one process's CPU is not what bounds the sends in flight on a loaded machine. */
const PROVIDER_LATENCY_MS = 1_000;
const BACKLOG = 200;

let database: TestDatabase;
let resend: IdempotentFake;
let harness: Harness;

beforeAll(async () => {
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend()]);
  // Default capacity settings: only the provider is configured.
  harness = await startHarness(
    testConfig(database.url, {
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      EMAIL_FROM_DOMAIN: 'acme.test',
    }),
  );
});

afterAll(async () => {
  await harness.close();
  await resend.close();
  await database.drop();
});

const email = (i: number): NewMessage => ({
  source: 'api',
  recipient: `user-${i}@example.com`,
  payload: { channel: 'email', subject: 'Welcome', html: '<p>Hi</p>', text: 'Hi' },
  secrets: [],
  codeBearing: false,
  maxAgeSeconds: 0,
});

/** The most requests the fake was answering at one instant (each takes PROVIDER_LATENCY_MS). */
function peakInFlight(receivedAt: number[]): number {
  const sorted = [...receivedAt].sort((a, b) => a - b);
  let peak = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last += 1) {
    while (sorted[first]! + PROVIDER_LATENCY_MS <= sorted[last]!) first += 1;
    peak = Math.max(peak, last - first + 1);
  }
  return peak;
}

it('keeps what the provider allows in flight (its reported rate × its latency, up to the ceiling), not a fixed 10', async () => {
  resend.setDefault(resendAnswers.ok(PROVIDER_LATENCY_MS));
  for (let i = 0; i < BACKLOG; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => harness.container.messages.accept(email(i + j))));
  }
  const workers = await startWorkers(harness.container);
  try {
    await waitFor(async () => (await database.db.message.count({ where: { status: 'sent' } })) === BACKLOG, { timeoutMs: 60_000 });
  } finally {
    await workers.close(5_000);
  }
  expect(resend.deliveries).toHaveLength(BACKLOG);
  // The fake reports 1,000/s: at 1 s that is 1,000 in flight, bounded by RESEND_CONCURRENCY's default of 50.
  const peak = peakInFlight(resend.requests.map((r) => r.receivedAt));
  expect(peak).toBeGreaterThanOrEqual(30);
  expect(peak).toBeLessThanOrEqual(50);
});
