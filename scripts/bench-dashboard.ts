/**
 * How fast the dashboard's pages answer on a log with every status in it.
 *
 *   npm run bench:dashboard                  (MESSAGES=2000 npm run bench:dashboard for a bigger log)
 *
 * Creates (and drops) its own database next to DATABASE_URL's, seeds MESSAGES messages over the last 24 h with
 * timelines, logs in, and times each page (median and worst of ROUNDS requests, after one warm-up).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { parseConfig } from '../src/config/env';
import { buildContainer } from '../src/container';
import { migrate } from '../src/db/migrate';
import { createApp } from '../src/http/app';
import { newId } from '../src/lib/ids';
import { createLogger } from '../src/lib/logger';

const MESSAGES = Number(process.env.MESSAGES ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const STATUSES = ['delivered', 'delivered', 'delivered', 'sent', 'queued', 'delayed', 'bounced', 'complained', 'failed', 'suppressed', 'expired'] as const;
const DOMAINS = ['gmail.com', 'outlook.com', 'yahoo.com', 'example.com'];

async function main(): Promise<void> {
  const base = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/auth_relay');
  const name = `auth_relay_bench_dashboard_${randomBytes(3).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const adminToken = randomBytes(16).toString('hex');
  const config = parseConfig({ ...process.env, DATABASE_URL: url.toString(), ADMIN_TOKEN: adminToken, QUEUE_PREFIX: `bench-${randomBytes(3).toString('hex')}`, LOG_LEVEL: 'silent', NODE_ENV: 'test' });
  const container = buildContainer(config, createLogger('silent'));
  const { db } = container;

  const now = Date.now();
  for (let i = 0; i < MESSAGES; i++) {
    const createdAt = new Date(now - Math.floor(Math.random() * 24 * 3_600_000));
    const status = STATUSES[i % STATUSES.length]!;
    const sent = !['queued', 'failed', 'expired', 'suppressed'].includes(status);
    const sentAt = sent ? new Date(createdAt.getTime() + 300 + Math.random() * 2_000) : null;
    const deliveredAt = status === 'delivered' && sentAt ? new Date(sentAt.getTime() + 1_000 + Math.random() * 8_000) : null;
    const domain = DOMAINS[i % DOMAINS.length]!;
    const events = [{ type: 'received', occurredAt: createdAt }, { type: 'queued', occurredAt: createdAt }];
    if (sentAt) events.push({ type: 'sent', occurredAt: sentAt });
    if (deliveredAt) events.push({ type: 'delivered', occurredAt: deliveredAt });
    if (['bounced', 'complained', 'failed'].includes(status)) events.push({ type: status, occurredAt: new Date((sentAt ?? createdAt).getTime() + 2_000) });
    await db.message.create({
      data: {
        id: newId('msg', createdAt.getTime()),
        source: 'clerk',
        externalId: `ema_bench${i}`,
        channel: 'email',
        template: i % 5 ? 'verification_code' : 'reset_password_code',
        recipient: `user${i}@${domain}`,
        recipientDomain: domain,
        userId: `user_${i % 50}`,
        provider: sent || status === 'failed' ? (i % 7 ? 'resend' : 'autosend') : null,
        status,
        attempts: 1,
        createdAt,
        sentAt,
        deliveredAt,
        content: { create: { redacted: { channel: 'email', subject: '[redacted] is your code', text: 'Your code is [redacted]' }, createdAt } },
        events: { create: events },
      },
    });
  }

  const server = createApp(container).listen(0);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const loginPage = await fetch(`${origin}/dashboard/login`);
  const loginCsrf = loginPage.headers.getSetCookie().find((c) => c.startsWith('relay_login_csrf='))!.split(';')[0]!;
  const formCsrf = (await loginPage.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
  const login = await fetch(`${origin}/dashboard/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCsrf },
    body: new URLSearchParams({ _csrf: formCsrf, token: adminToken }).toString(),
  });
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith('relay_session='))!.split(';')[0]!;
  const anyId = (await db.message.findFirstOrThrow({ where: { status: 'delivered' } })).id;

  const pages = [
    '/dashboard',
    '/dashboard?status=failed',
    '/dashboard?q=user7%40outlook.com&range=all',
    '/dashboard?q=user_7',
    `/dashboard/messages/${anyId}`,
    '/dashboard/overview',
    '/dashboard/suppressions',
    '/metrics',
  ];
  console.log(`${MESSAGES} messages; ${ROUNDS} requests per page after a warm-up`);
  for (const path of pages) {
    const times: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const started = performance.now();
      const res = await fetch(`${origin}${path}`, { headers: { cookie } });
      await res.text();
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      if (r > 0) times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(`${path.padEnd(48)} median ${times[Math.floor(times.length / 2)]!.toFixed(1).padStart(6)} ms   worst ${times.at(-1)!.toFixed(1).padStart(6)} ms`);
  }

  server.close();
  await container.close();
  const admin = new Client({ connectionString: new URL('/postgres', base).toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
