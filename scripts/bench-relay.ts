/**
 * What `bench:deliver` and `bench:e2e` share: a fake Resend, the relay's processes as in production, a
 * webhook load generator, and clean-up. Every timestamp is taken in the bench process, on one clock.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { signedClerkWebhook } from './bench-clerk-webhook';

export const PG = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const RESEND_KEY = 're_bench_0123456789';

/**
 * A port for a relay a bench starts, with `span` free ones after it: below Linux's ephemeral range (32768 up),
 * which the bench's own outgoing connections take from, and below the tests' servers (24,800 up).
 */
export const benchPort = (span = 1): number => 20_000 + Math.floor(Math.random() * (4_000 - span));
/** The queue of `bench-bare-worker.ts`, the baseline worker. */
export const BARE_QUEUE = 'bare-send';

export interface FakeResend {
  url: string;
  /** When each idempotency key first reached the fake (epoch ms, see `clock`). */
  firstSeen: Map<string, number>;
  /** How many requests each idempotency key made. */
  requestsByKey: Map<string, number>;
  requests(): number;
  close(): void;
}

/** Epoch milliseconds with performance.now()'s precision: the same clock in every process of a run. */
export const clock = (): number => performance.timeOrigin + performance.now();

/** Starts `bench-timed-resend.ts` in its own process and keeps what it reports. */
export async function startFakeResend(latencyMs: number): Promise<FakeResend> {
  const firstSeen = new Map<string, number>();
  const requestsByKey = new Map<string, number>();
  let requests = 0;
  const child = fork(path.resolve(__dirname, 'bench-timed-resend.js'), {
    env: { ...process.env, BENCH_PROVIDER_LATENCY_MS: String(latencyMs) },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (message: [string, string, number?]) => {
      const [kind, value, at] = message;
      if (kind === 'listening') resolve(value);
      if (kind !== 'request') return;
      requests += 1;
      if (!firstSeen.has(value)) firstSeen.set(value, at!);
      requestsByKey.set(value, (requestsByKey.get(value) ?? 0) + 1);
    });
  });
  return { url, firstSeen, requestsByKey, requests: () => requests, close: () => child.kill() };
}

const ROOT = path.resolve(__dirname, '../..');

/**
 * Runs `dist/<script>` (default the relay, `dist/src/main.js`, which gives itself its role's heap flags as in
 * production) and waits for `readyUrl` to answer, if given.
 */
export async function startProcess(env: Record<string, string>, readyUrl?: string, script = 'src/main.js'): Promise<ChildProcess> {
  // BENCH_LOG_DIR keeps each process's log (one file per process), to see why a figure is what it is.
  const logDir = process.env.BENCH_LOG_DIR;
  const stdout = logDir ? openSync(path.join(logDir, `${env.ROLE ?? 'bare'}-${Date.now()}.log`), 'a') : 'ignore';
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit'],
  });
  return readyUrl ? waitReady(child, readyUrl, script) : child;
}

/** Polls `readyUrl` until it answers 2xx; kills `child` if it has not within 60 s. `what` names it if it exits first. */
export async function waitReady(child: ChildProcess, readyUrl: string, what: string): Promise<ChildProcess> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    if (
      await fetch(readyUrl).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`${readyUrl} did not answer within 60 s`);
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export interface Posted {
  /** Message id → when its 2xx arrived (see `clock`). */
  accepted: Map<string, number>;
  /** Answers other than 2xx, by status, or by error when there was no answer. */
  refused: Map<string, number>;
}

/** Posts `count` signed Clerk webhooks, `parallel` at a time, or paced at a steady `perSecond`. */
export async function postWebhooks(
  url: string,
  secret: string,
  count: number,
  pace: { parallel: number } | { perSecond: number },
): Promise<Posted> {
  const posted: Posted = { accepted: new Map(), refused: new Map() };
  const refuse = (why: string): void => void posted.refused.set(why, (posted.refused.get(why) ?? 0) + 1);
  const one = async (): Promise<void> => {
    const { body, headers } = signedClerkWebhook(secret);
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers, body });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      return refuse(cause?.code ?? String(err));
    }
    const at = clock();
    if (res.status >= 300) {
      await res.text();
      return refuse(String(res.status));
    }
    posted.accepted.set(((await res.json()) as { message_id: string }).message_id, at);
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
    return posted;
  }
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i += 1) {
    const due = start + (i * 1000) / pace.perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(one());
  }
  await Promise.all(pending);
  return posted;
}

export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until `check` holds or `timeoutMs` passes; says which. */
export async function settle(check: () => boolean, timeoutMs: number): Promise<boolean> {
  return until(check, timeoutMs, '').then(
    () => true,
    () => false,
  );
}

/** CPU time a process has used (user + system), from /proc on Linux; undefined elsewhere. */
export function cpuMs(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

export const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Figures from a shared machine mean little without its load. */
export const machine = (): string =>
  `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`;

/** The relay's environment for one run: its own database and queue prefix, Resend on the fake, defaults otherwise. */
export function relayEnv(run: { port: number; dbName: string; prefix: string; secret: string; resendUrl: string }): Record<string, string> {
  return {
    PORT: String(run.port),
    DATABASE_URL: `${PG}/${run.dbName}`,
    REDIS_URL,
    QUEUE_PREFIX: run.prefix,
    // As in production: a JSON log line per message sent.
    LOG_LEVEL: 'info',
    CLERK_WEBHOOK_SIGNING_SECRET: run.secret,
    EMAIL_PROVIDERS: 'resend',
    RESEND_API_KEY: RESEND_KEY,
    RESEND_BASE_URL: run.resendUrl,
    EMAIL_FROM_DOMAIN: 'acme.example',
  };
}

/** Deletes every key under a run's QUEUE_PREFIX: all its queues, schedulers, provider health and sessions. */
export async function deleteKeys(prefix: string): Promise<void> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const leftovers = await connection.keys(`${prefix}:*`);
  for (let i = 0; i < leftovers.length; i += 500) await connection.del(...leftovers.slice(i, i + 500));
  connection.disconnect();
}

/** Everything a run left: its keys under `prefix` and its database. */
export async function cleanUp(prefix: string, dbName: string): Promise<void> {
  await deleteKeys(prefix);
  const admin = new Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
}
