/**
 * `npm run bench:deliver`: how fast the send worker drains messages to Resend, against the ideal
 * `concurrency / latency` for a provider that answers in a fixed 50 ms, and how long a message waits from
 * the webhook's 202 to the provider request. The relay runs as in production (`dist/src/main.js`, one API
 * and one worker process); the fake Resend (plain node:http, the real SDK pointed at it by RESEND_BASE_URL)
 * and the load run in this process, so every timestamp comes from one clock.
 *
 *  0. warm-up: a few messages through a running worker, so Resend's reported rate limit is known (as it is
 *     in any deployment after its first minutes) and connections and JIT are warm;
 *  1. throughput: N webhooks are accepted with no worker running; the worker is then started and the drain
 *     rate is taken between the first and the last provider request;
 *  2. latency: with the worker running, M more webhooks at a steady rate well under capacity; p50/p99 of
 *     (provider request received − 202 received).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { signedClerkWebhook } from './bench-clerk-webhook';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const LATENCY_MESSAGES = Number(process.env.BENCH_LATENCY_MESSAGES ?? 300);
const LATENCY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 50);
const WARM_UP_MESSAGES = 5;
const PROVIDER_LATENCY_MS = 50;
/** The send worker's concurrency (workers/send-worker.ts), also given to Resend as RESEND_CONCURRENCY. */
const CONCURRENCY = 20;
const PG = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const RESEND_KEY = 're_bench_0123456789';
const DB_NAME = `auth_relay_bench_${Date.now()}`;
const PREFIX = `bench-${Date.now()}`;

/** Resend's `POST /emails`, answering in a fixed 50 ms, noting when each idempotency key first arrived. */
async function startFakeResend(): Promise<{ url: string; firstSeen: Map<string, number>; requests: () => number; close(): void }> {
  const firstSeen = new Map<string, number>();
  let requests = 0;
  const server = createServer((req, res) => {
    const at = performance.now();
    requests += 1;
    const key = String(req.headers['idempotency-key'] ?? '');
    if (!firstSeen.has(key)) firstSeen.set(key, at);
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'ratelimit-limit': '100000',
          'ratelimit-remaining': '99999',
          'ratelimit-reset': '1',
          'ratelimit-policy': '100000;w=1',
        });
        res.end(JSON.stringify({ id: randomBytes(16).toString('hex') }));
      }, PROVIDER_LATENCY_MS);
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    firstSeen,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function startProcess(env: Record<string, string>, readyUrl?: string): Promise<ChildProcess> {
  const root = path.resolve(__dirname, '../..');
  const child = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!readyUrl) return child;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}`);
    if (await fetch(readyUrl).then((r) => r.ok, () => false)) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`${readyUrl} did not answer within 30 s`);
}

/** Posts `count` webhooks, `parallel` at a time, or paced at `perSecond`; returns message id → 202 time. */
async function post(url: string, count: number, pace: { parallel: number } | { perSecond: number }): Promise<Map<string, number>> {
  const accepted = new Map<string, number>();
  const one = async () => {
    const { body, headers } = signedClerkWebhook(SECRET);
    const res = await fetch(url, { method: 'POST', headers, body });
    const at = performance.now();
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
    accepted.set(((await res.json()) as { message_id: string }).message_id, at);
  };
  if ('parallel' in pace) {
    let next = 0;
    await Promise.all(
      Array.from({ length: pace.parallel }, async () => {
        while (next < count) {
          next += 1;
          await one();
        }
      }),
    );
  } else {
    const pending: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < count; i += 1) {
      const due = start + (i * 1000) / pace.perSecond;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      pending.push(one());
    }
    await Promise.all(pending);
  }
  return accepted;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** CPU time a process has used (user + system), from /proc on Linux; undefined elsewhere. */
function cpuMs(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const resend = await startFakeResend();
  const port = 32_000 + Math.floor(Math.random() * 1000);
  const env = {
    PORT: String(port),
    DATABASE_URL: `${PG}/${DB_NAME}`,
    REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    // As in production: a JSON log line per message sent.
    LOG_LEVEL: 'info',
    CLERK_WEBHOOK_SIGNING_SECRET: SECRET,
    EMAIL_PROVIDERS: 'resend',
    RESEND_API_KEY: RESEND_KEY,
    RESEND_BASE_URL: resend.url,
    RESEND_CONCURRENCY: String(CONCURRENCY),
    EMAIL_FROM_DOMAIN: 'acme.example',
  };
  const children: ChildProcess[] = [];
  try {
    children.push(await startProcess({ ...env, ROLE: 'api' }, `http://127.0.0.1:${port}/readyz`));
    const webhookUrl = `http://127.0.0.1:${port}/webhooks/clerk`;

    const warmUp = await startProcess({ ...env, ROLE: 'worker', PORT: '0' });
    children.push(warmUp);
    await post(webhookUrl, WARM_UP_MESSAGES, { parallel: 1 });
    await until(() => resend.firstSeen.size >= WARM_UP_MESSAGES, 60_000, 'the warm-up messages');
    warmUp.kill('SIGTERM');
    await new Promise((r) => warmUp.once('exit', r));

    // 1. Throughput: a backlog, then one worker process drains it.
    const backlog = await post(webhookUrl, MESSAGES, { parallel: 16 });
    const worker = await startProcess({ ...env, ROLE: 'worker', PORT: '0' });
    children.push(worker);
    await until(() => resend.firstSeen.size >= WARM_UP_MESSAGES + 1, 60_000, 'the first provider request');
    const cpuBefore = cpuMs(worker.pid);
    await until(() => resend.firstSeen.size >= WARM_UP_MESSAGES + MESSAGES, 300_000, `${MESSAGES} provider requests`);
    const cpuAfter = cpuMs(worker.pid);
    const times = [...backlog.keys()].map((id) => resend.firstSeen.get(`auth-message/${id}`)!).sort((a, b) => a - b);
    const drainSeconds = (times.at(-1)! - times[0]!) / 1000;
    const rate = (MESSAGES - 1) / drainSeconds;
    const ideal = CONCURRENCY / (PROVIDER_LATENCY_MS / 1000);

    // 2. Latency: steady arrivals while the worker runs.
    const steady = await post(webhookUrl, LATENCY_MESSAGES, { perSecond: LATENCY_RATE });
    await until(() => [...steady.keys()].every((id) => resend.firstSeen.has(`auth-message/${id}`)), 60_000, 'the steady messages');
    const waits = [...steady].map(([id, at]) => resend.firstSeen.get(`auth-message/${id}`)! - at).sort((a, b) => a - b);

    console.log(`\nbench:deliver — fake Resend answering in ${PROVIDER_LATENCY_MS} ms, worker concurrency ${CONCURRENCY}, one API and one worker process`);
    // Figures from a shared machine mean little without its load.
    console.log(`machine     ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`throughput  ${MESSAGES} queued messages drained at ${rate.toFixed(0)} msg/s; ideal ${ideal.toFixed(0)} msg/s (concurrency / latency); ratio ${(rate / ideal).toFixed(2)}`);
    if (cpuBefore !== undefined && cpuAfter !== undefined) {
      const perMessage = (cpuAfter - cpuBefore) / (MESSAGES - 1);
      console.log(`worker CPU  ${perMessage.toFixed(1)} ms per message while draining (${((cpuAfter - cpuBefore) / 10 / drainSeconds).toFixed(0)}% of one core)`);
    }
    console.log(
      `latency     ${LATENCY_MESSAGES} messages at ${LATENCY_RATE}/s: webhook 202 → provider request p50 ${percentile(waits, 50).toFixed(1)} ms, p99 ${percentile(waits, 99).toFixed(1)} ms`,
    );
    const total = WARM_UP_MESSAGES + MESSAGES + LATENCY_MESSAGES;
    console.log(`provider requests ${resend.requests()} for ${total} messages (each sent once: ${resend.requests() === total})`);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    resend.close();
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    // Everything the run left under its prefix: every queue (with the meta keys obliterate keeps) and provider health.
    const leftovers = await connection.keys(`${PREFIX}:*`);
    if (leftovers.length > 0) await connection.del(...leftovers);
    connection.disconnect();
    const admin = new Client({ connectionString: `${PG}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
