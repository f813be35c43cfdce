import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';
import { autosendAnswers, FAKE_AUTOSEND_KEY, startFakeAutosend } from './fakes/fake-autosend';
import { FAKE_RESEND_KEY, resendAnswers, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';

/**
 * Issue 10 items 3 and 4 end to end, through the real SDKs and the idempotent fakes: a timeout must not
 * become a second code through failover, and a long Retry-After must not let queued codes expire.
 */
let database: TestDatabase;
let resend: IdempotentFake;
let autosend: IdempotentFake;

beforeAll(async () => {
  [database, resend, autosend] = await Promise.all([createTestDatabase(), startFakeResend(), startFakeAutosend()]);
});

afterAll(async () => {
  await Promise.all([resend.close(), autosend.close()]);
  await database.drop();
});

beforeEach(() => {
  resend.delayFirstAnswers(0);
  resend.setDefault(resendAnswers.ok());
  autosend.setDefault(autosendAnswers.ok());
});

async function withHarness(env: Record<string, string>, body: (h: Harness) => Promise<void>): Promise<void> {
  const harness = await startHarness(
    testConfig(database.url, {
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      AUTOSEND_API_KEY: FAKE_AUTOSEND_KEY,
      AUTOSEND_API_URL: autosend.url,
      EMAIL_FROM_DOMAIN: 'acme.test',
      RESEND_MAX_PER_SECOND: '1000',
      AUTOSEND_MAX_PER_SECOND: '1000',
      ...env,
    }),
    // The shared gauges are read every half second, so /metrics shows a pause of a few seconds.
    { workers: true, overrides: { sharedGaugesIntervalMs: 500 } },
  );
  try {
    await body(harness);
  } finally {
    await harness.close();
  }
}

/** Accepts `count` Clerk emails, a few requests at a time, and returns their message ids. */
async function acceptMany(h: Harness, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = Array.from({ length: Math.min(20, count - i) }, () => acceptClerkEvent(h.request, emailCreated()));
    ids.push(...(await Promise.all(batch)));
  }
  return ids;
}

/** What went out, per message: deliveries across both fakes (a replayed idempotency key is not a delivery). */
function deliveriesPerMessage(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of [...resend.deliveries, ...autosend.deliveries]) {
    const id = d.idempotencyKey?.replace(/^auth-message\//, '') ?? 'no-key';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

const statusesOf = async (ids: string[]) =>
  (await database.db.message.findMany({ where: { id: { in: ids } }, select: { status: true } })).map((m) => m.status);

/** How many of `ids` ended in each status, once none is still queued or being sent. */
async function settledCounts(ids: string[], timeoutMs: number): Promise<Record<string, number>> {
  const statuses = await waitFor(
    async () => {
      const now = await statusesOf(ids);
      return now.every((s) => s !== 'queued' && s !== 'sending') ? now : null;
    },
    { timeoutMs, intervalMs: 200 },
  );
  const counts: Record<string, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

describe('a timeout, then an open circuit (issue 10 item 3)', () => {
  it('300 messages whose first attempt at Resend times out after Resend took it: each sent, none twice', async () => {
    await withHarness(
      {
        EMAIL_PROVIDERS: 'resend,autosend',
        PROVIDER_TIMEOUT_MS: '500',
        PROVIDER_ATTEMPTS: '2',
        PROVIDER_CIRCUIT_FAILURES: '5',
        PROVIDER_CIRCUIT_OPEN_SECONDS: '2',
        RESEND_CONCURRENCY: '50',
        SEND_CONCURRENCY: '50',
      },
      async (h) => {
        // Resend takes each first request (it is recorded under its idempotency key) but answers only after 3 s.
        resend.delayFirstAnswers(3_000);
        const ids = await acceptMany(h, 300);
        await waitFor(async () => ((await statusesOf(ids)).every((s) => s === 'sent') ? true : null), {
          timeoutMs: 150_000,
          intervalMs: 500,
        });

        const counts = deliveriesPerMessage();
        const twice = ids.filter((id) => (counts.get(id) ?? 0) > 1);
        const never = ids.filter((id) => (counts.get(id) ?? 0) === 0);
        expect({ twice: twice.length, never: never.length }).toEqual({ twice: 0, never: 0 });
      },
    );
  }, 200_000);
});

describe('a long Retry-After on the only provider (issue 10 item 4)', () => {
  it('one 429 with Retry-After: 3600, 20 codes queued: all 20 sent once, within the pause cap', async () => {
    await withHarness({ EMAIL_PROVIDERS: 'resend', PROVIDER_MAX_PAUSE_SECONDS: '6' }, async (h) => {
      const pausedSeconds = async () => {
        const text = await (await h.request('/metrics')).text();
        return Number(/^auth_relay_provider_paused_seconds\{provider="resend"\} ([\d.]+)$/m.exec(text)?.[1] ?? Number.NaN);
      };
      expect(await waitFor(async () => ((await pausedSeconds()) === 0 ? true : null))).toBe(true);
      resend.script(resendAnswers.rateLimited(3_600));
      const started = Date.now();
      const first = await acceptClerkEvent(h.request, emailCreated());
      await waitFor(() => database.db.messageEvent.findFirst({ where: { messageId: first, type: 'send_failed' } }));

      // During the pause /metrics shows it, counting down from at most the cap.
      const paused = await waitFor(async () => {
        const seconds = await pausedSeconds();
        return seconds > 0 ? seconds : null;
      });
      expect(paused).toBeLessThanOrEqual(6);
      const ids = [first, ...(await acceptMany(h, 19))];

      expect(await settledCounts(ids, 30_000)).toEqual({ sent: 20 });
      // Within the cap (plus the time to accept and send 20 on a loaded machine), not after Retry-After's hour.
      expect(Date.now() - started).toBeLessThan(6_000 + 15_000);
      const counts = deliveriesPerMessage();
      expect(ids.map((id) => counts.get(id) ?? 0)).toEqual(ids.map(() => 1));
    });
  }, 60_000);

  it('a pause that would outlive the queued codes gets one probe before they expire: all 20 sent, none expired', async () => {
    await withHarness(
      { EMAIL_PROVIDERS: 'resend', PROVIDER_MAX_PAUSE_SECONDS: '60', OTP_MAX_AGE_SECONDS: '8', PROVIDER_TIMEOUT_MS: '1000' },
      async (h) => {
        resend.script(resendAnswers.rateLimited(3_600));
        const first = await acceptClerkEvent(h.request, emailCreated());
        await waitFor(() => database.db.messageEvent.findFirst({ where: { messageId: first, type: 'send_failed' } }));
        const ids = [first, ...(await acceptMany(h, 19))];

        expect(await settledCounts(ids, 30_000)).toEqual({ sent: 20 });
        const counts = deliveriesPerMessage();
        expect(ids.map((id) => counts.get(id) ?? 0)).toEqual(ids.map(() => 1));
      },
    );
  }, 60_000);
});
