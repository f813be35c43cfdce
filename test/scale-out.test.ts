import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { emailCreated, postClerkEvent } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, TEST_REDIS_URL } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { expectSentOnce } from './helpers/provider-tests';
import { randomPort } from './helpers/redis-server';
import { MAIN, obliterateQueues } from './helpers/service';
import { waitFor } from './helpers/wait';
import { FAKE_RESEND_KEY, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';

/*
 * Scale-out as the README describes it: two API processes (the built service, ROLE=api) and two worker
 * processes on one Postgres and one Redis, a worker SIGKILLed mid-traffic. Every message is sent once.
 */

const WORKER = path.resolve(__dirname, '../dist/test/fixtures/worker-process.js');
const prefix = `t-scale-${Date.now()}`;

let database: TestDatabase;
let resend: IdempotentFake;
const children: ChildProcess[] = [];

beforeAll(async () => {
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend()]);
  // Slow enough that both workers have sends in flight when one is killed.
  resend.setDefault({ kind: 'ok', latencyMs: 1_000 });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await obliterateQueues(prefix);
  await Promise.all([resend.close(), database.drop()]);
});

function start(script: string, env: Record<string, string>): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [script], {
    env: {
      PATH: process.env.PATH!,
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      CLERK_WEBHOOK_SIGNING_SECRET: TEST_CLERK_SECRET,
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      RESEND_MAX_PER_SECOND: '500',
      EMAIL_FROM: 'Acme <auth@acme.example>',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  return { child, lines };
}

describe('two API and two worker processes on one Postgres and Redis', () => {
  it('sends every message exactly once when a worker is SIGKILLed mid-traffic', async () => {
    const apiPorts = [randomPort(), randomPort() + 1];
    const apis = apiPorts.map((port) => start(MAIN, { ROLE: 'api', PORT: String(port) }));
    const workers = [0, 1].map(() => start(WORKER, { ROLE: 'worker', TEST_LOCK_MS: '2000' }));
    await waitFor(
      () => apis.every((a) => a.lines.some((l) => l.includes('auth-relay ready'))) && workers.every((w) => w.lines.includes('ready')),
      {
        timeoutMs: 40_000,
        intervalMs: 200,
      },
    );

    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 30) {
        await waitFor(() => resend.requests.length >= 10);
        workers[0]!.child.kill('SIGKILL');
      }
      const port = apiPorts[i % 2]!;
      const res = await postClerkEvent((p, init) => fetch(`http://127.0.0.1:${port}${p}`, init), emailCreated());
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { message_id: string }).message_id);
      await new Promise((r) => setTimeout(r, 15));
    }

    await waitFor(async () => (await database.db.message.count({ where: { id: { in: ids }, status: 'sent' } })) === ids.length, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    // The killed worker's sends in flight were sent again by the other (same idempotency key)...
    expect(resend.requests.length).toBeGreaterThan(ids.length);
    // ...and the provider sent each message once.
    await expectSentOnce(resend, database.db, ids);
  }, 90_000);
});
