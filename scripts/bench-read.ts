/**
 * The read side at a large log: every `/api/messages` filter and search, a message, `/api/stats`, `/metrics` and
 * every dashboard page, each timed 20 times against a started service.
 *
 *   npm run bench:read                                  (1,000,000 messages over 60 days)
 *   SIZES=10000,100000,1000000 npm run bench:read        (the same reads at each size, to show they stay flat)
 *
 * For each size it creates (and drops) its own database next to DATABASE_URL's, seeds the messages with one
 * set-based INSERT per table (generate_series): their timelines, the redacted content the last BODY_RETENTION_DAYS
 * keep, suppressions; then starts the app (createApp, what `npm start` serves) on a free port, logs in and prints
 * p50/p95 per read. A read whose p95 misses BUDGET_MS has the EXPLAIN (ANALYZE, BUFFERS) of
 * its slowest statement printed. Exits 1 when any read misses.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg, { Client } from 'pg';
import { parseConfig } from '../src/config/env';
import { buildContainer } from '../src/container';
import { migrate } from '../src/db/migrate';
import { createApp } from '../src/app';
import { encodeCursor } from '../src/lib/cursor';
import { createLogger } from '../src/lib/logger';
import { seedLog } from './bench-read/seed';
import { deleteKeys } from './bench-relay';

const SIZES = (process.env.SIZES ?? '1000000').split(',').map(Number);
const DAYS = Number(process.env.DAYS ?? 60);
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const BUDGET_MS = Number(process.env.BUDGET_MS ?? 100);

interface Statement {
  text: string;
  values: unknown[];
  ms: number;
}

/**
 * Every statement the app's pg clients run while `recording` is set, to explain the slowest of a slow read:
 * promise-style calls (db/sql.ts) and callback-style ones (pg-pool and Prisma's adapter), whose callback is
 * the last argument.
 */
let recording: Statement[] | null = null;
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const log = recording;
  const config = args[0] as string | { text?: string; values?: unknown[] };
  const text = typeof config === 'string' ? config : config?.text;
  if (!log || !text) return query.apply(this, args);
  // `query(text, callback)` has no values: its second argument is the callback.
  const given = typeof config === 'string' ? args[1] : config.values;
  const values: unknown[] = Array.isArray(given) ? given : [];
  const started = performance.now();
  const done = () => log.push({ text, values, ms: performance.now() - started });
  const callback = args.at(-1);
  if (typeof callback === 'function') {
    args[args.length - 1] = (...answer: unknown[]) => {
      done();
      return (callback as (...a: unknown[]) => unknown)(...answer);
    };
    return query.apply(this, args);
  }
  const result = query.apply(this, args);
  if (!(result instanceof Promise)) return result;
  return result.then((r: unknown) => {
    done();
    return r;
  });
} as typeof pg.Client.prototype.query;

const percentile = (sorted: number[], p: number): number => sorted[Math.max(0, Math.ceil(sorted.length * p) - 1)]!;

async function cursorAt(pg: Client, fraction: number, total: number, where = 'TRUE'): Promise<string> {
  const { rows } = await pg.query(
    `SELECT created_at, id FROM messages WHERE ${where} ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
    [Math.floor(total * fraction)],
  );
  return encodeCursor(rows[0].created_at, rows[0].id);
}

/** The reads, by name: API paths with the bearer token, dashboard paths with a session. */
async function reads(pg: Client, size: number): Promise<[string, string][]> {
  const one = (
    await pg.query(
      `SELECT id, external_id, provider_message_id, user_id, recipient FROM messages WHERE status = 'delivered' ORDER BY created_at DESC OFFSET $1 LIMIT 1`,
      [Math.floor(size / 3)],
    )
  ).rows[0];
  const autosend = (await pg.query(`SELECT count(*)::int AS n FROM messages WHERE provider = 'autosend'`)).rows[0].n as number;
  const day = new Date(Date.now() - 30 * 86_400_000);
  const since = encodeURIComponent(day.toISOString());
  const until = encodeURIComponent(new Date(day.getTime() + 86_400_000).toISOString());
  const hourAgo = encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString());
  const half = await cursorAt(pg, 0.5, size);
  const autosend90 = await cursorAt(pg, 0.9, autosend, `provider = 'autosend'`);
  return [
    ['/api/messages', '/api/messages'],
    ['/api/messages?status=failed', '/api/messages?status=failed'],
    ['/api/messages?status=bounced cursor 50 %', `/api/messages?status=bounced&cursor=${half}`],
    ['/api/messages?provider=autosend', '/api/messages?provider=autosend'],
    ['/api/messages?provider=autosend cursor 90 %', `/api/messages?provider=autosend&cursor=${autosend90}`],
    ['/api/messages?channel=sms', '/api/messages?channel=sms'],
    ['/api/messages?template=', '/api/messages?template=reset_password_code'],
    ['/api/messages?user_id=', `/api/messages?user_id=${one.user_id}`],
    ['/api/messages?recipient=', `/api/messages?recipient=${encodeURIComponent(one.recipient)}`],
    ['/api/messages?since&until (a day, 30 d ago)', `/api/messages?since=${since}&until=${until}`],
    ['/api/messages?updated_since=1h', `/api/messages?updated_since=${hourAgo}`],
    ['/api/messages?q=msg_ id', `/api/messages?q=${one.id}`],
    ['/api/messages?q=ema_ id', `/api/messages?q=${one.external_id}`],
    ['/api/messages?q=provider id', `/api/messages?q=${one.provider_message_id}`],
    ['/api/messages?q=user id', `/api/messages?q=${one.user_id}`],
    ['/api/messages?q=recipient', `/api/messages?q=${encodeURIComponent(one.recipient)}`],
    ['/api/messages?q=nothing', '/api/messages?q=nobody%40nowhere.example'],
    ['/api/messages cursor 50 %', `/api/messages?cursor=${half}`],
    ['/api/messages/:id', `/api/messages/${one.id}`],
    ['/api/stats?window=24h', '/api/stats?window=24h'],
    ['/api/stats?window=7d', '/api/stats?window=7d'],
    ['/metrics', '/metrics'],
    ['/dashboard', '/dashboard'],
    ['/dashboard?status=failed', '/dashboard?status=failed'],
    ['/dashboard?q=recipient', `/dashboard?q=${encodeURIComponent(one.recipient)}&range=all`],
    ['/dashboard 24h autosend template', '/dashboard?range=24h&provider=autosend&template=reset_password_code'],
    ['/dashboard cursor 50 %', `/dashboard?cursor=${half}`],
    ['/dashboard/messages/:id', `/dashboard/messages/${one.id}`],
    ['/dashboard/overview', '/dashboard/overview'],
    ['/dashboard/suppressions', '/dashboard/suppressions'],
    ['/dashboard/suppressions?q=', '/dashboard/suppressions?q=gone7'],
    ['/dashboard/queues', '/dashboard/queues'],
  ];
}

async function login(origin: string, adminToken: string): Promise<string> {
  const page = await fetch(`${origin}/dashboard/login`);
  const loginCsrf = page.headers
    .getSetCookie()
    .find((c) => c.startsWith('relay_login_csrf='))!
    .split(';')[0]!;
  const formCsrf = (await page.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
  const res = await fetch(`${origin}/dashboard/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCsrf },
    body: new URLSearchParams({ _csrf: formCsrf, token: adminToken }).toString(),
  });
  return res.headers
    .getSetCookie()
    .find((c) => c.startsWith('relay_session='))!
    .split(';')[0]!;
}

async function explain(pg: Client, s: Statement): Promise<string> {
  const { rows } = await pg.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.values);
  return rows.map((r: Record<string, string>) => `    ${r['QUERY PLAN']}`).join('\n');
}

async function measure(size: number, base: URL): Promise<number> {
  const name = `auth_relay_bench_read_${randomBytes(3).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const pg = new Client({ connectionString: url.toString() });
  await pg.connect();
  const adminToken = randomBytes(16).toString('hex');
  const queuePrefix = `bench-${randomBytes(3).toString('hex')}`;
  const config = parseConfig({
    ...process.env,
    DATABASE_URL: url.toString(),
    ADMIN_TOKEN: adminToken,
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
  });
  const container = buildContainer(config, createLogger('silent'));
  let over = 0;
  try {
    const seeded = await seedLog(pg, { messages: size, days: DAYS, bodyDays: config.BODY_RETENTION_DAYS });
    console.log(
      `\n${size.toLocaleString('en')} messages over ${DAYS} days: ${seeded.events.toLocaleString('en')} events, ${seeded.contents.toLocaleString('en')} contents (seeded in ${(seeded.ms / 1000).toFixed(1)} s); ${ROUNDS} requests each after a warm-up, budget p95 < ${BUDGET_MS} ms`,
    );

    // What the maintenance worker does every minute in a running deployment: fold the log into the stats'
    // hourly rollup (the first fold rolls up the whole log), and run the deliverability check, which records
    // the last-1,000-sends rates /api/stats reports.
    let started = performance.now();
    const folded = await container.stats.fold();
    const foldMs = performance.now() - started;
    started = performance.now();
    await container.stats.fold();
    const refoldMs = performance.now() - started;
    started = performance.now();
    await container.alerts.evaluate();
    console.log(
      `first rollup fold ${(foldMs / 1000).toFixed(1)} s (${folded.hours} hours), the next ${refoldMs.toFixed(0)} ms; deliverability check ${(performance.now() - started).toFixed(0)} ms`,
    );

    const server = createApp(container).listen(0);
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cookie = await login(origin, adminToken);
    for (const [label, path] of await reads(pg, size)) {
      const headers = path.startsWith('/api') ? { authorization: `Bearer ${adminToken}` } : { cookie };
      const times: number[] = [];
      let slowest: Statement[] = [];
      for (let r = 0; r <= ROUNDS; r++) {
        const statements: Statement[] = [];
        recording = statements;
        const started = performance.now();
        const res = await fetch(`${origin}${path}`, { headers });
        await res.text();
        const ms = performance.now() - started;
        recording = null;
        if (r === 0) continue;
        // A read that fails (a statement past its timeout answers 500) counts as missing the budget.
        times.push(res.status === 200 ? ms : Number.POSITIVE_INFINITY);
        if (ms >= Math.max(...times)) slowest = statements;
      }
      times.sort((a, b) => a - b);
      const p95 = percentile(times, 0.95);
      const miss = p95 >= BUDGET_MS;
      console.log(
        `${label.padEnd(48)} p50 ${percentile(times, 0.5).toFixed(1).padStart(7)} ms   p95 ${p95.toFixed(1).padStart(7)} ms${miss ? '   MISSES' : ''}`,
      );
      if (!miss) continue;
      over += 1;
      const worst = [...slowest].sort((a, b) => b.ms - a.ms)[0];
      if (worst) console.log(`  slowest statement (${worst.ms.toFixed(1)} ms):\n${await explain(pg, worst)}`);
    }
    server.close();
  } finally {
    await container.close();
    await deleteKeys(queuePrefix);
    await pg.end();
    const admin = new Client({ connectionString: new URL('/postgres', base).toString() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
  return over;
}

async function main(): Promise<void> {
  const base = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/auth_relay');
  let over = 0;
  for (const size of SIZES) over += await measure(size, base);
  console.log(over ? `\n${over} read(s) at or over ${BUDGET_MS} ms at p95` : `\nevery read under ${BUDGET_MS} ms at p95`);
  process.exitCode = over ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
