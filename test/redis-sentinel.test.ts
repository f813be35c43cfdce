import { createSweeper } from '../src/delivery/sweeper';
import { createLogger } from '../src/lib/logger';
import { emailCreated, postClerkEvent } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { expectSentOnce } from './helpers/provider-tests';
import { PrivateSentinelSet, SENTINEL_MASTER } from './helpers/redis-topologies';
import { waitFor } from './helpers/wait';
import { FAKE_RESEND_KEY, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';

/*
 * REDIS_MODE=sentinel against a real master, replica and sentinel: the master fails over while Clerk
 * webhooks come in and workers send. Every accepted message is sent, and none twice.
 */

let database: TestDatabase;
let sentinels: PrivateSentinelSet;
let resend: IdempotentFake;
let harness: Harness;

beforeAll(async () => {
  sentinels = new PrivateSentinelSet();
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend(), sentinels.start()]);
  harness = await startHarness(
    testConfig(database.url, {
      REDIS_MODE: 'sentinel',
      REDIS_URL: sentinels.url,
      REDIS_SENTINEL_MASTER: SENTINEL_MASTER,
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      EMAIL_FROM: 'Acme <auth@acme.example>',
      // The fake's own limit is far above; the default 2/s would make the test slow, not different.
      RESEND_MAX_PER_SECOND: '200',
    }),
    { workers: true },
  );
}, 60_000);
afterAll(async () => {
  await harness?.close();
  await Promise.all([sentinels.stop(), resend.close(), database.drop()]);
});

/** Posts one Clerk event the way Svix does: again (same event) after a refusal, until it is accepted. */
async function deliverLikeSvix(event: ReturnType<typeof emailCreated>): Promise<string> {
  for (;;) {
    const res = await postClerkEvent(harness.request, event).catch(() => undefined);
    if (res && res.status < 300) return (await json(res)).message_id;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('REDIS_MODE=sentinel', () => {
  it('loses nothing and sends nothing twice when the master fails over during traffic', async () => {
    const events = Array.from({ length: 40 }, () => emailCreated());
    const accepted: Promise<string>[] = [];
    let failover: Promise<{ from: number; to: number }> | undefined;
    for (const [i, event] of events.entries()) {
      if (i === 15) failover = sentinels.failover();
      accepted.push(deliverLikeSvix(event));
      await new Promise((r) => setTimeout(r, 40));
    }
    const { from, to } = await failover!;
    expect(to).not.toBe(from);
    const ids = await Promise.all(accepted);
    expect(new Set(ids).size).toBe(events.length);

    // A job written to the old master after the replica took over is gone with it; its message is still
    // queued in Postgres, and the sweeper (every 30 s in production) queues it again.
    const sweeper = createSweeper({
      db: database.db,
      store: harness.container.messageStore,
      queues: harness.container.queues,
      log: createLogger('silent'),
      staleAfterMs: 5_000,
    });
    await waitFor(
      async () => {
        const sent = await database.db.message.count({ where: { id: { in: ids }, status: 'sent' } });
        if (sent < ids.length) await sweeper.sweep();
        return sent === ids.length;
      },
      { timeoutMs: 40_000, intervalMs: 500 },
    );

    await expectSentOnce(resend, database.db, ids);
    // The service is on the new master.
    // Its ping has a 1.5 s budget, which a loaded machine can miss once: ask until it answers.
    await waitFor(() => harness.request('/readyz').then((r) => r.status === 200), { timeoutMs: 15_000, intervalMs: 500 });
    expect(await sentinels.masterPort()).toBe(to);
  }, 90_000);
});
