/**
 * How fast the dashboard's pages answer on a log with every status in it.
 *
 *   npm run bench:dashboard                  (PER_STATUS=2000 npm run bench:dashboard for a bigger log)
 *
 * Creates (and drops) its own database next to DATABASE_URL's, seeds PER_STATUS messages in every status over
 * the last 24 h with timelines, and SUPPRESSIONS suppressed recipients, logs in, and times each page (median,
 * p95 and worst of ROUNDS requests, after one warm-up). Exits 1 when a page's p95 is over 300 ms.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { parseConfig } from '../src/config/env';
import { buildContainer } from '../src/container';
import { migrate } from '../src/db/migrate';
import { createApp } from '../src/app';
import type { Prisma } from '../src/generated/prisma/client';
import { MessageStatus } from '../src/generated/prisma/enums';
import { newId } from '../src/lib/ids';
import { createLogger } from '../src/lib/logger';

/** Messages per status: the bar is "a few hundred messages in every status". */
const PER_STATUS = Number(process.env.PER_STATUS ?? 300);
const SUPPRESSIONS = Number(process.env.SUPPRESSIONS ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 20);
/** The budget per page, from the issue. */
const BUDGET_MS = 300;
const STATUSES = Object.values(MessageStatus);
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
  const messages: Prisma.MessageCreateManyInput[] = [];
  const contents: Prisma.MessageContentCreateManyInput[] = [];
  const events: Prisma.MessageEventCreateManyInput[] = [];
  for (let i = 0; i < PER_STATUS * STATUSES.length; i++) {
    const createdAt = new Date(now - Math.floor(Math.random() * 24 * 3_600_000));
    const status = STATUSES[i % STATUSES.length]!;
    const sent = !['queued', 'sending', 'failed', 'expired', 'suppressed'].includes(status);
    const sentAt = sent ? new Date(createdAt.getTime() + 300 + Math.random() * 2_000) : null;
    const deliveredAt = ['delivered', 'complained'].includes(status) && sentAt ? new Date(sentAt.getTime() + 1_000 + Math.random() * 8_000) : null;
    const domain = DOMAINS[i % DOMAINS.length]!;
    const id = newId('msg', createdAt.getTime());
    const provider = sent || status === 'failed' ? (i % 7 ? 'resend' : 'autosend') : null;
    messages.push({
      id,
      source: 'clerk',
      externalId: `ema_bench${i}`,
      channel: 'email',
      template: i % 5 ? 'verification_code' : 'reset_password_code',
      recipient: `user${i}@${domain}`,
      recipientDomain: domain,
      userId: `user_${i % 50}`,
      provider,
      providerMessageId: sent ? `re_bench${i}` : null,
      status,
      attempts: 1,
      createdAt,
      sentAt,
      deliveredAt,
      updatedAt: deliveredAt ?? sentAt ?? createdAt,
    });
    contents.push({ messageId: id, redacted: { channel: 'email', subject: '[redacted] is your code', text: 'Your code is [redacted]' }, createdAt });
    const timeline: [string, Date, Record<string, unknown>][] = [['received', createdAt, {}], ['queued', createdAt, {}]];
    if (sentAt) timeline.push(['sent', sentAt, { provider_message_id: `re_bench${i}` }]);
    if (deliveredAt) timeline.push(['delivered', deliveredAt, {}]);
    if (status === 'bounced') timeline.push(['bounced', new Date(sentAt!.getTime() + 2_000), { bounce_kind: i % 2 ? 'hard' : 'soft' }]);
    if (status === 'complained') timeline.push(['complained', new Date(deliveredAt!.getTime() + 60_000), {}]);
    if (['failed', 'expired', 'suppressed'].includes(status)) timeline.push([status, new Date(createdAt.getTime() + 2_000), { reason: 'bench' }]);
    for (const [type, occurredAt, detail] of timeline) events.push({ messageId: id, type, occurredAt, provider: type === 'received' || type === 'queued' ? null : provider, detail: detail as Prisma.InputJsonValue });
  }
  for (let i = 0; i < messages.length; i += 1_000) await db.message.createMany({ data: messages.slice(i, i + 1_000) });
  for (let i = 0; i < contents.length; i += 1_000) await db.messageContent.createMany({ data: contents.slice(i, i + 1_000) });
  for (let i = 0; i < events.length; i += 2_000) await db.messageEvent.createMany({ data: events.slice(i, i + 2_000) });
  await db.suppression.createMany({
    data: Array.from({ length: SUPPRESSIONS }, (_, i) => ({ id: newId('sup'), channel: 'email' as const, recipient: `gone${i}@${DOMAINS[i % DOMAINS.length]}`, reason: i % 3 ? 'hard_bounce' : 'complaint' })),
  });
  await db.$executeRawUnsafe('ANALYZE');

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
    '/dashboard?range=24h&provider=autosend&template=reset_password_code',
    '/dashboard/suppressions',
    '/dashboard/suppressions?q=gone7',
    '/dashboard/queues',
    '/metrics',
  ];
  console.log(`${messages.length} messages (${PER_STATUS} in each of ${STATUSES.length} statuses), ${events.length} events, ${SUPPRESSIONS} suppressions; ${ROUNDS} requests per page after a warm-up; budget ${BUDGET_MS} ms`);
  let over = 0;
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
    const p95 = times[Math.ceil(times.length * 0.95) - 1]!;
    if (p95 > BUDGET_MS) over += 1;
    console.log(
      `${path.padEnd(66)} median ${times[Math.floor(times.length / 2)]!.toFixed(1).padStart(6)} ms   p95 ${p95.toFixed(1).padStart(6)} ms   worst ${times.at(-1)!.toFixed(1).padStart(6)} ms${p95 > BUDGET_MS ? '   OVER BUDGET' : ''}`,
    );
  }
  console.log(over ? `${over} page(s) over ${BUDGET_MS} ms at p95` : `every page under ${BUDGET_MS} ms at p95`);
  process.exitCode = over ? 1 : 0;

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
