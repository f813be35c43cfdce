/**
 * How long the deliverability stats take on a big log (what /api/stats, the alerts, the dashboard and /metrics read).
 *
 *   npm run bench:stats                         (MESSAGES=1000000 DOMAINS=300 npm run bench:stats)
 *
 * Creates (and drops) its own database next to DATABASE_URL's, seeds MESSAGES email messages spread over
 * RETENTION_DAYS (1 % hard bounces, 0.05 % complaints, each with its timeline events), then times each window.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createPrisma } from '../src/db/prisma';
import { migrate } from '../src/db/migrate';
import { createStats } from '../src/deliverability/stats';

const MESSAGES = Number(process.env.MESSAGES ?? 300_000);
const DOMAINS = Number(process.env.DOMAINS ?? 300);
const RETENTION_DAYS = Number(process.env.RETENTION_DAYS ?? 30);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

async function main(): Promise<void> {
  const base = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/auth_relay');
  const name = `auth_relay_bench_stats_${randomBytes(3).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  try {
    await run(url.toString());
  } finally {
    const admin = new Client({ connectionString: new URL('/postgres', base).toString() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

async function run(databaseUrl: string): Promise<void> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  const spacingMs = Math.floor((RETENTION_DAYS * 86_400_000) / MESSAGES);
  const seeding = performance.now();
  await pg.query(
    `INSERT INTO messages (id, source, channel, recipient, recipient_domain, provider, provider_message_id, status, attempts,
                           created_at, sent_at, delivered_at, updated_at)
     SELECT 'msg_' || lpad(i::text, 10, '0'), 'clerk', 'email', 'u' || i || '@d' || (i % $2) || '.example', 'd' || (i % $2) || '.example',
            CASE WHEN i % 7 = 0 THEN 'autosend' ELSE 'resend' END, 'pm_' || i,
            (CASE WHEN i % 100 = 0 THEN 'bounced' WHEN i % 2000 = 1 THEN 'complained' ELSE 'delivered' END)::"MessageStatus", 1,
            now() - ($3::float8 * i) * interval '1 millisecond', now() - ($3::float8 * i) * interval '1 millisecond' + interval '400 ms',
            now() - ($3::float8 * i) * interval '1 millisecond' + interval '3 s', now()
     FROM generate_series(1, $1) i`,
    [MESSAGES, DOMAINS, spacingMs],
  );
  await pg.query(
    `INSERT INTO message_events (message_id, type, occurred_at, provider, detail)
     SELECT id, t, created_at, provider, '{}'::jsonb FROM messages, LATERAL (VALUES ('received'), ('sent'), ('delivered')) v(t)`,
  );
  await pg.query(
    `INSERT INTO message_events (message_id, type, occurred_at, provider, detail)
     SELECT id, status::text, sent_at, provider, CASE WHEN status = 'bounced' THEN '{"bounce_kind":"hard"}'::jsonb ELSE '{}'::jsonb END
     FROM messages WHERE status IN ('bounced', 'complained')`,
  );
  await pg.query('ANALYZE');
  await pg.end();
  console.log(`${MESSAGES} messages over ${RETENTION_DAYS} days, ${DOMAINS} domains (seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s)`);

  const db = createPrisma(databaseUrl, 5);
  const stats = createStats({ db });
  const cases: [string, string, { lastSends?: boolean }][] = [
    ['/api/stats, alerts', '24h', {}],
    ['dashboard, /metrics', '24h', { lastSends: false }],
    ['/api/stats?window=7d', '7d', {}],
  ];
  for (const [who, window, options] of cases) {
    const times: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const started = performance.now();
      await stats.compute(window, options);
      if (r > 0) times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(`${`${window} ${who}`.padEnd(32)} median ${times[Math.floor(times.length / 2)]!.toFixed(0).padStart(6)} ms   worst ${times.at(-1)!.toFixed(0).padStart(6)} ms`);
  }
  await db.$disconnect();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
