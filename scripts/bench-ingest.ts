/**
 * `npm run bench:ingest`: how fast signed Clerk `email.created` webhooks are accepted, by five servers measured
 * interleaved in one run, each in its own process, at BENCH_CONNECTIONS (default 16 and 64):
 *   bare      Express 5 parsing JSON and answering: the ceiling of any Express receiver on this machine;
 *   floor     the minimal durable receiver (bench-ingest-floor.ts): HMAC, one INSERT, one BullMQ add, 202;
 *   api       auth-relay ROLE=api;
 *   all       auth-relay ROLE=all (what `npm start` runs), sending what it accepts to a fake Resend meanwhile;
 *   sync      the synchronous recipe (bench-ingest-sync.ts): verify, call the provider inline, answer.
 * The provider is the tests' fake Resend answering after 50 ms, in its own process. For each run the CPU each
 * party spent per request is read from /proc: the server with its children, the Postgres backends of its
 * database, the Redis server (shared with whatever else uses it), the load generator and the fake provider.
 * Goals (issue 13): api ≥ 0.85 × floor with p99 ≤ 1.2 × floor's; all ≥ 0.8 × api with p99 < 50 ms.
 * BENCH_SECONDS, BENCH_CONNECTIONS (comma-separated), BENCH_SERVERS (some of bare,floor,api,all,sync) and
 * BENCH_CPU_PROF (a directory for the relays' CPU profiles) narrow a run to what one is looking at.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import type { LoadFigures } from './bench-load';
import { cpuBetween, cpuOf, postgresBackends, processTree, redisServers, rssOf } from './bench-proc';
import { benchPort, deleteKeys, PG, REDIS_URL, waitReady } from './bench-relay';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '16,64').split(',').map(Number);
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const RUN = `${Date.now()}`;
const ROOT = path.resolve(__dirname, '../..');
/** BENCH_SERVERS=floor,api runs only those (a quick look at one change); the ratios need floor, api and all. */
const ONLY = process.env.BENCH_SERVERS?.split(',');
/** BENCH_CPU_PROF=<dir>: the relays run with --cpu-prof and write their profiles there when they stop. */
const CPU_PROF = process.env.BENCH_CPU_PROF;

const BARE_EXPRESS = `
const express = require('express');
const app = express();
app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
app.post('/webhooks/clerk', express.json({ limit: '256kb' }), (req, res) => res.status(202).json({ ok: true, n: Object.keys(req.body).length }));
const server = app.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

interface Server {
  name: string;
  label: string;
  child: ChildProcess;
  url: string;
  /** Its own database, so its Postgres backends can be told from the others'. */
  database?: string;
  queuePrefix?: string;
  idleRss: number;
}

interface Run extends LoadFigures {
  server: Server;
  cpu: { server: number; postgres: number; redis: number; load: number; provider: number };
  peakRss: number;
}

async function startProcess(args: readonly string[], env: Record<string, string>, readyUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return waitReady(child, readyUrl, args.join(' '));
}

async function startProvider(): Promise<{ child: ChildProcess; url: string; apiKey: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/scripts/bench-fake-resend.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, ...(JSON.parse(line) as { url: string; apiKey: string }) };
}

async function createDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
}

/** Starts the five servers into `servers` (so a failure part-way still stops those already started). */
async function startServers(servers: Server[], provider: { url: string; apiKey: string }, basePort: number): Promise<void> {
  const add = async (name: string, label: string, args: readonly string[], env: Record<string, string>, extra: Partial<Server> = {}) => {
    if (ONLY && !ONLY.includes(name)) return;
    const port = basePort + servers.length;
    const child = await startProcess(
      args,
      { PORT: String(port), ...env },
      `http://127.0.0.1:${port}/${name === 'api' || name === 'all' ? 'readyz' : 'healthz'}`,
    );
    servers.push({ name, label, child, url: `http://127.0.0.1:${port}/webhooks/clerk`, idleRss: 0, ...extra });
  };
  const relay = (role: string) => {
    const database = `auth_relay_bench_${role}_${RUN}`;
    const queuePrefix = `bench-${role}-${RUN}`;
    const env = {
      ROLE: role,
      DATABASE_URL: `${PG}/${database}`,
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      // As in production: one JSON log line per request (written, then discarded by the bench).
      LOG_LEVEL: 'info',
      CLERK_WEBHOOK_SIGNING_SECRET: SECRET,
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: provider.apiKey,
      RESEND_BASE_URL: provider.url,
      EMAIL_FROM: 'Acme <auth@acme.test>',
    };
    // One directory per role: ROLE=all's worker thread writes a profile of its own.
    const profile = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF, role)}`] : [];
    return [[...profile, path.join(ROOT, 'dist/src/main.js')], env, { database, queuePrefix }] as const;
  };
  await add('bare', 'bare Express 5 JSON handler', ['-e', BARE_EXPRESS], { NODE_PATH: path.join(ROOT, 'node_modules') });
  const floorDb = `auth_relay_bench_floor_${RUN}`;
  if (!ONLY || ONLY.includes('floor')) await createDatabase(floorDb);
  await add(
    'floor',
    'minimal durable receiver',
    [path.join(ROOT, 'dist/scripts/bench-ingest-floor.js')],
    { DATABASE_URL: `${PG}/${floorDb}`, REDIS_URL, QUEUE_PREFIX: `bench-floor-${RUN}`, CLERK_WEBHOOK_SIGNING_SECRET: SECRET },
    { database: floorDb, queuePrefix: `bench-floor-${RUN}` },
  );
  await add('api', 'auth-relay ROLE=api', ...relay('api'));
  await add('all', 'auth-relay ROLE=all (sending)', ...relay('all'));
  await add('sync', 'synchronous Clerk recipe', [path.join(ROOT, 'dist/scripts/bench-ingest-sync.js')], {
    CLERK_WEBHOOK_SIGNING_SECRET: SECRET,
    RESEND_API_KEY: provider.apiKey,
    RESEND_BASE_URL: provider.url,
  });
}

async function load(server: Server, seconds: number, connections: number): Promise<LoadFigures & { loadCpu: number }> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist/scripts/bench-load.js'), server.url, SECRET, String(seconds), String(connections)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let loadCpu = 0;
  // Read just before it exits: a reaped process's CPU is no longer in /proc.
  const sampler = setInterval(() => (loadCpu = Math.max(loadCpu, cpuBetween(new Map(), cpuOf([child.pid!])))), 250);
  await once(child, 'exit');
  clearInterval(sampler);
  return { ...(JSON.parse(out) as LoadFigures), loadCpu };
}

async function measure(server: Server, connections: number, providerPid: number): Promise<Run> {
  const parties = () => ({
    server: processTree(server.child.pid!),
    postgres: server.database ? postgresBackends(server.database) : [],
    redis: redisServers(Number(new URL(REDIS_URL).port || 6379)),
    provider: processTree(providerPid),
  });
  const before = parties();
  const cpuBefore = {
    server: cpuOf(before.server),
    postgres: cpuOf(before.postgres),
    redis: cpuOf(before.redis),
    provider: cpuOf(before.provider),
  };
  const figures = await load(server, SECONDS, connections);
  const after = parties();
  const between = (k: keyof typeof cpuBefore) => cpuBetween(cpuBefore[k], cpuOf(after[k]));
  const cpu = {
    server: between('server'),
    postgres: between('postgres'),
    redis: between('redis'),
    load: figures.loadCpu,
    provider: between('provider'),
  };
  return { ...figures, server, cpu, peakRss: rssOf(after.server).peak };
}

/** Drops what ROLE=all has not sent yet, so its backlog does not keep a core busy through the other runs. */
async function dropBacklog(server: Server): Promise<void> {
  if (!server.queuePrefix) return;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  await new Queue('send', { connection, prefix: server.queuePrefix }).drain(true);
  connection.disconnect();
}

const us = (seconds: number, requests: number) => (requests ? ((seconds * 1e6) / requests).toFixed(0) : '-').padStart(6);

function report(connections: number, runs: Run[], loadAverage: string): void {
  const by = (name: string) => runs.find((r) => r.server.name === name);
  const floor = by('floor');
  console.log(`\n${connections} connections, ${SECONDS} s each, load average before ${loadAverage}`);
  console.log(
    `${'server'.padEnd(30)} ${'req/s'.padStart(7)} ${'×floor'.padStart(6)} ${'p50'.padStart(4)} ${'p99'.padStart(4)}  CPU µs/req: ${'server'.padStart(6)} ${'pg'.padStart(6)} ${'redis'.padStart(6)} ${'loadgen'.padStart(7)} ${'fake'.padStart(6)}   idle/peak RSS MB  non-2xx`,
  );
  for (const r of runs) {
    const ratio = floor ? (r.rps / floor.rps).toFixed(2) : '-';
    console.log(
      `${r.server.label.padEnd(30)} ${r.rps.toFixed(0).padStart(7)} ${ratio.padStart(6)} ${String(r.p50).padStart(4)} ${String(r.p99).padStart(4)}  ${''.padStart(11)} ${us(r.cpu.server, r.requests)} ${us(r.cpu.postgres, r.requests)} ${us(r.cpu.redis, r.requests)} ${us(r.cpu.load, r.requests).padStart(7)} ${us(r.cpu.provider, r.requests)}   ${r.server.idleRss.toFixed(0).padStart(4)} / ${r.peakRss.toFixed(0).padStart(4)}       ${r.non2xx + r.errors}`,
    );
  }
  const api = by('api');
  const all = by('all');
  if (floor && api) {
    const apiMet = api.rps >= 0.85 * floor.rps && api.p99 <= 1.2 * floor.p99;
    console.log(
      `ROLE=api / floor ${(api.rps / floor.rps).toFixed(2)} (goal ≥ 0.85), p99 ${api.p99} vs floor ${floor.p99} ms (goal ≤ 1.2×): ${apiMet ? 'MET' : 'NOT MET'}`,
    );
  }
  if (api && all) {
    const allMet = all.rps >= 0.8 * api.rps && all.p99 < 50;
    console.log(
      `ROLE=all / ROLE=api ${(all.rps / api.rps).toFixed(2)} (goal ≥ 0.80), p99 ${all.p99} ms (goal < 50): ${allMet ? 'MET' : 'NOT MET'}`,
    );
  }
  const bare = by('bare');
  const sync = by('sync');
  if (floor && bare) console.log(`floor / bare ${(floor.rps / bare.rps).toFixed(2)}`);
  if (sync && api) console.log(`sync recipe / ROLE=api ${(sync.rps / api.rps).toFixed(2)}`);
}

async function cleanUp(servers: Server[], provider: ChildProcess | undefined): Promise<void> {
  for (const s of servers) s.child.kill('SIGTERM');
  provider?.kill('SIGTERM');
  await Promise.all(servers.map((s) => (s.child.exitCode === null ? once(s.child, 'exit') : undefined)));
  for (const s of servers) if (s.queuePrefix) await deleteKeys(s.queuePrefix);
  const admin = new Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  for (const s of servers) if (s.database) await admin.query(`DROP DATABASE IF EXISTS "${s.database}" WITH (FORCE)`);
  await admin.end();
}

async function main(): Promise<void> {
  const basePort = benchPort(10);
  let provider: Awaited<ReturnType<typeof startProvider>> | undefined;
  const servers: Server[] = [];
  try {
    provider = await startProvider();
    await startServers(servers, provider, basePort);
    await new Promise((r) => setTimeout(r, 2_000));
    for (const s of servers) s.idleRss = rssOf(processTree(s.child.pid!)).rss;
    // Warm each up so JIT and connection pools are not measured.
    for (const s of servers) await load(s, 2, 4);
    for (const s of servers) await dropBacklog(s);
    console.log(`bench:ingest — ${availableParallelism()} CPUs, autocannon in its own process`);
    for (const connections of CONNECTIONS) {
      const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const runs: Run[] = [];
      for (const s of servers) {
        runs.push(await measure(s, connections, provider.child.pid!));
        await dropBacklog(s);
      }
      report(connections, runs, loadAverage);
    }
  } finally {
    await cleanUp(servers, provider?.child);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
