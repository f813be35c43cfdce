import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { logged, obliterateQueues, startService as startServiceWith, type Service } from './helpers/service';
import { waitFor } from './helpers/wait';

let database: TestDatabase;
const prefix = `t-proc-${Date.now()}`;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await obliterateQueues(prefix);
  await database.drop();
});

const startService = (env: Record<string, string>): Service =>
  startServiceWith({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, ...env });

async function postClerk(port: number): Promise<string> {
  return acceptClerkEvent((path, init) => fetch(`http://127.0.0.1:${port}${path}`, init), emailCreated());
}

describe('the service process', () => {
  it('ROLE=all serves, sends, and exits 0 on SIGTERM after closing everything', async () => {
    const service = startService({});
    try {
      await waitFor(() => logged(service, 'auth-relay ready'), { timeoutMs: 20_000 });
      const id = await postClerk(service.port);
      await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }));
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      expect(logged(service, 'stopped')).toBe(true);
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it('ROLE=api only receives; ROLE=worker only sends; both exit 0 on SIGINT', async () => {
    const api = startService({ ROLE: 'api' });
    let worker: Service | undefined;
    try {
      await waitFor(() => logged(api, 'auth-relay ready'), { timeoutMs: 20_000 });
      const id = await postClerk(api.port);
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await database.db.message.findUniqueOrThrow({ where: { id } })).status).toBe('queued');

      worker = startService({ ROLE: 'worker' });
      await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }), { timeoutMs: 20_000 });
      await expect(fetch(`http://127.0.0.1:${worker.port}/healthz`)).rejects.toThrow();

      api.child.kill('SIGINT');
      worker.child.kill('SIGINT');
      expect(await Promise.all([api.exited, worker.exited])).toEqual([0, 0]);
    } finally {
      api.child.kill('SIGKILL');
      worker?.child.kill('SIGKILL');
    }
  });

  it('refuses to start on a bad setting, naming the variable', async () => {
    const service = startService({ PORT: 'eighty' });
    expect(await service.exited).toBe(1);
    expect(service.stderr.join('\n')).toMatch(/PORT: /);
  });
});
