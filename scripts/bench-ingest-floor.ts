/**
 * bench:ingest's third server: the least any receiver can do while keeping the promise auth-relay keeps,
 * that a 2xx means the message is in Postgres and its job is in Redis. It checks the HMAC with node:crypto,
 * writes one row to a table with only a primary key and the dedupe key, queues one BullMQ job, and answers,
 * with the same group commit as the relay. Its gap to bare Express is what durability costs on the machine;
 * the relay's gap to it is what auth-relay's own work costs (validation, content, timeline, logs).
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { Pool } from 'pg';

const key = Buffer.from(process.env.CLERK_WEBHOOK_SIGNING_SECRET!.replace(/^whsec_/, ''), 'base64');
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
const queue = new Queue('send', {
  connection: new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null }),
  prefix: process.env.QUEUE_PREFIX,
});

interface Pending {
  row: { id: string; external_id: string };
  settle(err?: unknown): void;
}
const waiting: Pending[] = [];
let writing = false;

async function drain(): Promise<void> {
  writing = true;
  while (waiting.length > 0) {
    const group = waiting.splice(0, 100);
    try {
      await pool.query({
        name: 'insert',
        text: `INSERT INTO bench_floor (id, external_id)
               SELECT id, external_id FROM jsonb_to_recordset($1::jsonb) AS i(id text, external_id text)
               ON CONFLICT (external_id) DO NOTHING`,
        values: [JSON.stringify(group.map((p) => p.row))],
      });
      void queue.addBulk(group.map((p) => ({ name: 'send', data: { messageId: p.row.id }, opts: { jobId: p.row.id } }))).then(
        () => group.forEach((p) => p.settle()),
        (err: unknown) => group.forEach((p) => p.settle(err)),
      );
    } catch (err) {
      group.forEach((p) => p.settle(err));
    }
  }
  writing = false;
}

const app = express();
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
app.post('/webhooks/clerk', express.raw({ type: () => true, limit: '256kb' }), (req, res) => {
  const expected = createHmac('sha256', key)
    .update(`${req.headers['svix-id']}.${req.headers['svix-timestamp']}.`)
    .update(req.body)
    .digest();
  const given = Buffer.from(String(req.headers['svix-signature']).replace(/^v1,/, ''), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    res.status(401).end();
    return;
  }
  const event = JSON.parse(req.body.toString('utf8')) as { data: { id: string } };
  const row = { id: randomUUID(), external_id: event.data.id };
  waiting.push({ row, settle: (err) => (err ? res.status(503).end() : res.status(202).json({ message_id: row.id, status: 'queued' })) });
  if (!writing) void drain();
});

void pool.query('CREATE TABLE IF NOT EXISTS bench_floor (id text PRIMARY KEY, external_id text NOT NULL UNIQUE)').then(() => {
  const server = app.listen(Number(process.env.PORT));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
});
