import { acceptClerkEvent, emailCreated, postClerkEvent } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, PG_BASE, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { TcpProxy } from './helpers/tcp-proxy';
import { waitFor } from './helpers/wait';

/**
 * A network partition between the relay and Postgres: packets vanish, nothing is closed, so only the relay's
 * own timeouts can end a request. The receiver must answer 503 (Svix retries it) within a few seconds, not
 * hang for the whole partition, and accept again once the path is back.
 */

let database: TestDatabase;
let proxy: TcpProxy;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  const postgres = new URL(PG_BASE);
  proxy = await TcpProxy.start({ host: postgres.hostname, port: Number(postgres.port || 5432) });
  harness = await startHarness(testConfig(proxy.urlFor(database.url)));
});

afterAll(async () => {
  proxy.heal();
  await harness.close();
  await proxy.stop();
  await database.drop();
});

/** Posts a Clerk event and times the answer; a request still unanswered after 15 s is given up on. */
async function timedPost(): Promise<{ status: number | 'no answer'; retryAfter: string | null; ms: number }> {
  const started = Date.now();
  try {
    const res = await postClerkEvent(
      (path, init) => harness.request(path, { ...init, signal: AbortSignal.timeout(15_000) }),
      emailCreated(),
    );
    return { status: res.status, retryAfter: res.headers.get('retry-after'), ms: Date.now() - started };
  } catch {
    return { status: 'no answer', retryAfter: null, ms: Date.now() - started };
  }
}

it('answers 503 with Retry-After within 5 s while Postgres is cut off, and accepts again once it is back', async () => {
  // Connections are open and idle in the pool, as in a running service.
  await acceptClerkEvent(harness.request, emailCreated());
  proxy.partition();
  try {
    // One request alone, then several at once (they share the pool's wait for a connection).
    const answers = [await timedPost(), ...(await Promise.all([timedPost(), timedPost(), timedPost()]))];
    for (const answer of answers) {
      // Before, every request hung until the partition ended (no answer after 15 s).
      expect(answer).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/), ms: expect.any(Number) });
      expect(answer.ms).toBeLessThan(5_000);
    }
  } finally {
    proxy.heal();
  }
  await waitFor(async () => (await timedPost()).status === 202, { timeoutMs: 15_000, intervalMs: 200 });
}, 60_000);
