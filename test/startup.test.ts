import { createServer, connect, type Server } from 'node:net';
import { emailCreated, postClerkEvent } from './helpers/clerk-events';
import { createTestDatabase, PG_BASE, type TestDatabase } from './helpers/db';
import { PrivateRedis, randomPort } from './helpers/redis-server';
import { answersWith, logged, obliterateQueues, startService, type Service } from './helpers/service';
import { waitFor } from './helpers/wait';

/** A Postgres that is "down" until `open()`: a port with nothing behind it, then a proxy to the shared server. */
class PostgresOnAPort {
  readonly port = randomPort();
  private server?: Server;
  async open(): Promise<void> {
    const target = new URL(PG_BASE);
    this.server = createServer((socket) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      socket.pipe(upstream).pipe(socket);
      const close = () => (socket.destroy(), upstream.destroy());
      socket.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }
  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

let database: TestDatabase;
const prefix = `t-start-${Date.now()}`;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await obliterateQueues(prefix);
  await database.drop();
});

const post = (service: Service) => postClerkEvent((path, init) => fetch(`http://127.0.0.1:${service.port}${path}`, init), emailCreated());
const output = (service: Service) => [...service.lines, ...service.stderr].join('\n');

describe('a dependency down at start: the process listens, says what is missing, and recovers', () => {
  it('Postgres: /healthz 200, /readyz 503 naming DATABASE_URL, webhooks 503, then ready once Postgres answers', async () => {
    const postgres = new PostgresOnAPort();
    const url = new URL(database.url);
    url.host = `127.0.0.1:${postgres.port}`;
    url.username = 'postgres';
    url.password = 'not-for-logs';
    const service = startService({ DATABASE_URL: url.toString(), QUEUE_PREFIX: prefix });
    try {
      expect(await waitFor(() => answersWith(service, '/healthz', 200), { timeoutMs: 20_000 })).toEqual({ status: 'ok' });
      // Redis connects on its own shortly after the process listens; wait for that, not for Postgres.
      const notReady = (await waitFor(async () => {
        const body = (await answersWith(service, '/readyz', 503)) as { error: { message: string }; checks: { redis?: string } } | false;
        return body && body.checks.redis === 'ok' ? body : undefined;
      })) as { error: { message: string }; checks: object };
      expect(notReady.checks).toEqual({ postgres: 'down', redis: 'ok', startup: 'pending' });
      expect(notReady.error.message).toContain('postgres is not answering (DATABASE_URL)');
      expect(notReady.error.message).toContain('still applying migrations (DATABASE_URL)');
      const refused = await post(service);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      // The log names the variable and what was tried, without the password.
      await waitFor(() =>
        output(service).includes(`cannot reach Postgres at postgresql://postgres:[redacted]@127.0.0.1:${postgres.port}/`),
      );
      expect(output(service)).toContain('(DATABASE_URL): connect ECONNREFUSED');
      expect(output(service)).not.toContain('not-for-logs');

      await postgres.open();
      await waitFor(() => answersWith(service, '/readyz', 200), { timeoutMs: 40_000 });
      expect((await post(service)).status).toBe(202);
    } finally {
      service.child.kill('SIGKILL');
      await postgres.close();
    }
  }, 90_000);

  it('Redis: listens at once, /readyz 503 naming REDIS_URL, webhooks 503 without hanging; sends once Redis is up, and again after it restarts', async () => {
    const redis = new PrivateRedis(randomPort());
    const service = startService({ DATABASE_URL: database.url, REDIS_URL: redis.url, QUEUE_PREFIX: prefix });
    try {
      await waitFor(() => answersWith(service, '/healthz', 200), { timeoutMs: 20_000 });
      const notReady = (await waitFor(() => answersWith(service, '/readyz', 503))) as { error: { message: string } };
      expect(notReady.error.message).toContain('redis is not answering (REDIS_URL)');
      const started = Date.now();
      expect((await post(service)).status).toBe(503);
      expect(Date.now() - started).toBeLessThan(3_000);
      await waitFor(() => output(service).includes('(REDIS_URL)'));

      await redis.start();
      await waitFor(() => logged(service, 'auth-relay ready'), { timeoutMs: 40_000 });
      const accepted = await post(service);
      expect(accepted.status).toBe(202);
      const { message_id: id } = (await accepted.json()) as { message_id: string };
      await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }), { timeoutMs: 20_000 });

      await redis.stop();
      expect(((await waitFor(() => answersWith(service, '/readyz', 503))) as { error: { message: string } }).error.message).toContain(
        'REDIS_URL',
      );
      await redis.start();
      await waitFor(() => answersWith(service, '/readyz', 200), { timeoutMs: 40_000 });
    } finally {
      service.child.kill('SIGKILL');
      await redis.stop();
    }
  }, 120_000);
});
