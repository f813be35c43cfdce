/**
 * `npm run bench:ingest`: how fast the Clerk receiver accepts signed `email.created` webhooks (verify, one
 * Postgres insert, one BullMQ add, 202), against a bare Express handler that only parses JSON, measured in the
 * same run on the same machine. Target: ratio ≥ 0.6 with p99 < 50 ms.
 *
 * A third server, the minimal durable receiver (bench-ingest-floor.ts), shows how much of the gap is the
 * durable write and queueing any correct receiver must do before its 2xx, and how much is auth-relay's own.
 * Each server runs in its own process; autocannon runs in this one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { signedClerkWebhook } from './bench-clerk-webhook';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PG = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const DB_NAME = `auth_relay_bench_${Date.now()}`;
const PREFIX = `bench-${Date.now()}`;

/** Starts a server process (its logs are discarded, but still written) and waits until `readyUrl` answers. */
async function startProcess(args: string[], env: Record<string, string>, readyUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
    if (await fetch(readyUrl).then((r) => r.ok, () => false)) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`${readyUrl} did not answer within 30 s`);
}

const BARE_EXPRESS = `
const express = require('express');
const app = express();
app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
app.post('/webhooks/clerk', express.json({ limit: '256kb' }), (req, res) => res.status(202).json({ ok: true, n: Object.keys(req.body).length }));
const server = app.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(url: string): Promise<Figures> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [{ setupRequest: (req) => ({ ...req, ...signedClerkWebhook(SECRET) }) }],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../..');
  const basePort = 31_000 + Math.floor(Math.random() * 1000);
  const bare = await startProcess(['-e', BARE_EXPRESS], { PORT: String(basePort), NODE_PATH: path.join(root, 'node_modules') }, `http://127.0.0.1:${basePort}/healthz`);
  const relay = await startProcess(
    [path.join(root, 'dist/src/main.js')],
    {
      ROLE: 'api',
      PORT: String(basePort + 1),
      DATABASE_URL: `${PG}/${DB_NAME}`,
      REDIS_URL,
      QUEUE_PREFIX: PREFIX,
      // As in production: one JSON log line per request.
      LOG_LEVEL: 'info',
      CLERK_WEBHOOK_SIGNING_SECRET: SECRET,
    },
    `http://127.0.0.1:${basePort + 1}/readyz`,
  ).catch(async (err) => {
    bare.kill();
    throw err;
  });
  // After the relay, whose migrate created the database it shares.
  const floor = await startProcess(
    [path.join(root, 'dist/scripts/bench-ingest-floor.js')],
    { PORT: String(basePort + 2), DATABASE_URL: `${PG}/${DB_NAME}`, REDIS_URL, QUEUE_PREFIX: `${PREFIX}-floor`, CLERK_WEBHOOK_SIGNING_SECRET: SECRET },
    `http://127.0.0.1:${basePort + 2}/healthz`,
  ).catch(async (err) => {
    bare.kill();
    relay.kill();
    throw err;
  });
  try {
    const urls = [basePort, basePort + 2, basePort + 1].map((port) => `http://127.0.0.1:${port}/webhooks/clerk`);
    // Warm each up so JIT and connection pools are not measured.
    for (const url of urls) await autocannon({ url, method: 'POST', connections: 4, duration: 2, requests: [{ setupRequest: (r) => ({ ...r, ...signedClerkWebhook(SECRET) }) }] });

    const [baseline, floor, receiver] = [await load(urls[0]!), await load(urls[1]!), await load(urls[2]!)];
    const ratio = receiver.rps / baseline.rps;
    const row = (name: string, f: Figures) =>
      `${name.padEnd(30)} ${f.rps.toFixed(0).padStart(8)} req/s   p50 ${String(f.p50).padStart(4)} ms   p99 ${String(f.p99).padStart(4)} ms   non-2xx ${f.non2xx}   errors ${f.errors}`;
    console.log(`\nbench:ingest — ${CONNECTIONS} connections, ${SECONDS} s each, autocannon in a separate process`);
    console.log(row('bare express (JSON only)', baseline));
    console.log(row('minimal durable receiver', floor));
    console.log(row('auth-relay /webhooks/clerk', receiver));
    console.log(`minimal durable receiver / bare express ${(floor.rps / baseline.rps).toFixed(2)}; auth-relay / minimal durable receiver ${(receiver.rps / floor.rps).toFixed(2)}`);
    console.log(`ratio ${ratio.toFixed(2)} (target ≥ 0.60), receiver p99 ${receiver.p99} ms (target < 50 ms): ${ratio >= 0.6 && receiver.p99 < 50 ? 'MET' : 'NOT MET'}`);
  } finally {
    bare.kill('SIGTERM');
    floor.kill('SIGTERM');
    relay.kill('SIGTERM');
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    for (const prefix of [PREFIX, `${PREFIX}-floor`]) await new Queue('send', { connection, prefix }).obliterate({ force: true });
    connection.disconnect();
    const admin = new Client({ connectionString: `${PG}/postgres` });
    await admin.connect();
    await new Promise((r) => setTimeout(r, 500));
    await admin.query(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
