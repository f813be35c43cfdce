import { TEST_API_KEY, TEST_VERIFICATION_SECRET, postV1 } from './helpers/api';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { csrfFrom, form, logIn, setCookie } from './helpers/dashboard';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { PrivateRedisCluster } from './helpers/redis-topologies';
import { waitFor } from './helpers/wait';
import { FAKE_RESEND_KEY, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';

/*
 * REDIS_MODE=cluster against a real three-shard Redis Cluster: every Redis user of the service (queues and
 * workers, provider health, the verification and login limiters, sessions, idempotency, readiness).
 */

// The cluster is the test's own, so the prefix can be fixed: where its hash tags land is then known.
const PREFIX = 't-cluster-a';

let database: TestDatabase;
let cluster: PrivateRedisCluster;
let resend: IdempotentFake;
let harness: Harness;

beforeAll(async () => {
  cluster = new PrivateRedisCluster();
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend(), cluster.start()]);
  harness = await startHarness(
    testConfig(database.url, {
      REDIS_MODE: 'cluster',
      REDIS_URL: cluster.url,
      QUEUE_PREFIX: PREFIX,
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      EMAIL_FROM: 'Acme <auth@acme.example>',
      API_KEYS: TEST_API_KEY,
      VERIFICATION_SECRET: TEST_VERIFICATION_SECRET,
      APP_NAME: 'Acme',
    }),
    { workers: true },
  );
}, 60_000);
afterAll(async () => {
  await harness?.close();
  // After a failed setup only what was made is there to stop.
  await Promise.all([cluster.stop(), resend?.close(), database?.drop()]);
});

describe('REDIS_MODE=cluster', () => {
  it('takes a Clerk webhook to sent, each queue in one slot and the queues spread over the shards', async () => {
    const id = await acceptClerkEvent(harness.request, emailCreated());
    const sent = await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }), { timeoutMs: 20_000 });
    expect(sent.provider).toBe('resend');
    expect(resend.deliveries).toHaveLength(1);
    expect(resend.deliveries[0]!.idempotencyKey).toBeDefined();

    const keys = await cluster.keys(`*${PREFIX}*`);
    const nodesByQueue = new Map<string, Set<number>>();
    for (const { key, port } of keys) {
      const queue = key.match(new RegExp(`^\\{${PREFIX}:([a-z-]+)\\}:\\1:`))?.[1];
      if (!queue) continue;
      nodesByQueue.set(queue, (nodesByQueue.get(queue) ?? new Set()).add(port));
    }
    // The send job and the maintenance schedules are there, each queue wholly on one node...
    expect([...nodesByQueue.keys()]).toEqual(expect.arrayContaining(['send', 'maintenance']));
    for (const nodes of nodesByQueue.values()) expect(nodes.size).toBe(1);
    // ...and not all queues on the same one (known for this prefix: send and maintenance hash to different shards).
    expect(await cluster.portOf(`{${PREFIX}:send}`)).not.toBe(await cluster.portOf(`{${PREFIX}:maintenance}`));
    expect(new Set([...nodesByQueue.values()].map((n) => [...n][0])).size).toBeGreaterThan(1);
    // Provider health was read and written through its scripts on the cluster.
    expect(await cluster.keys(`${PREFIX}:provider-health:resend`)).toHaveLength(1);
    expect(await harness.container.providerHealth.states()).toContainEqual(
      expect.objectContaining({ provider: 'resend', circuit: 'closed' }),
    );
  });

  it('the verification limiter (a four-key script) counts in one slot and refuses the resend', async () => {
    const to = `user-${Date.now()}@example.com`;
    const first = await postV1(harness, '/verifications', { channel: 'email', to, purpose: 'login' });
    expect(first.status).toBe(201);
    const again = await postV1(harness, '/verifications', { channel: 'email', to, purpose: 'login' });
    expect(again.status).toBe(429);
    expect((await json(again)).error.code).toBe('resend_cooldown');

    const wrong = await postV1(harness, '/verifications/check', { verification_id: (await json(first)).verification_id, code: '000000' });
    expect(wrong.status).toBe(422);
    const limiterKeys = await cluster.keys(`{${PREFIX}:verify}:*`);
    expect(limiterKeys.length).toBeGreaterThanOrEqual(4);
    expect(new Set(limiterKeys.map((k) => k.port)).size).toBe(1);
  });

  it('replays an Idempotency-Key, and keeps dashboard sessions and the login limiter', async () => {
    const body = { channel: 'email', to: 'ops@example.com', subject: 'Hello', text: 'Hi' };
    const a = await postV1(harness, '/messages', body, { 'idempotency-key': 'cluster-key-1' });
    const b = await postV1(harness, '/messages', body, { 'idempotency-key': 'cluster-key-1' });
    expect(a.status).toBe(202);
    expect((await json(b)).message_id).toBe((await json(a)).message_id);

    const page = await harness.request('/dashboard/login');
    const refused = await harness.request('/dashboard/login', {
      ...form({ _csrf: csrfFrom(await page.text()), token: 'wrong-token-wrong-token' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}` },
    });
    expect(refused.status).toBe(401);
    expect(await cluster.keys(`${PREFIX}:dashboard:login-failures:*`)).toHaveLength(1);

    const session = await logIn(harness, TEST_ADMIN_TOKEN);
    expect((await session.get('/dashboard')).status).toBe(200);
    expect((await harness.request('/readyz')).status).toBe(200);
  });
});
