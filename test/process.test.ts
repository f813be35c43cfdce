import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { logIn } from './helpers/dashboard';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import type { Harness } from './helpers/harness';
import { logged, MAIN, obliterateQueues, startService as startServiceWith, type Service } from './helpers/service';
import { randomPort } from './helpers/redis-server';
import { waitFor } from './helpers/wait';
import { missingHeapFlags } from '../src/heap-flags';
import { metricsPort, WORKER_METRICS_PORT } from '../src/http/metrics-listener';

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

/** [name, nice] of each thread of a process, from /proc. */
function threadNices(pid: number): [string, number][] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), Number(fields[16])];
  });
}

async function postClerk(port: number): Promise<string> {
  return acceptClerkEvent((path, init) => fetch(`http://127.0.0.1:${port}${path}`, init), emailCreated());
}

describe('the service process', () => {
  it('ROLE=all serves, sends, and exits 0 on SIGTERM after closing everything', async () => {
    const service = startService({});
    try {
      await waitFor(() => logged(service, 'auth-relay ready'), { timeoutMs: 20_000 });
      // The workers run in a thread of their own, off the receiver's event loop.
      expect(logged(service, 'worker thread ready')).toBe(true);
      // At a lower priority than the receiver's thread, so intake goes first when they want the same core.
      expect(threadNices(service.child.pid!)).toEqual(
        expect.arrayContaining([
          ['MainThread', 0],
          ['WorkerThread', 10],
        ]),
      );
      const id = await postClerk(service.port);
      await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }));
      // The thread's send counter is exported on the receiver's /metrics.
      const metrics = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
      expect(metrics).toMatch(/^auth_relay_send_attempts_total\{[^}]*outcome="sent"[^}]*\} [1-9]/m);
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

  it('ROLE=worker never loads the dashboard (bull-board); ROLE=api loads it on the first /dashboard/queues request', async () => {
    const preload = `--require ${path.join(__dirname, 'fixtures/report-loaded-modules.js')}`;
    const loadedBy = async (role: string, openQueuesPage: boolean): Promise<boolean> => {
      const service = startService({ ROLE: role, METRICS_PORT: String(randomPort()), NODE_OPTIONS: preload });
      try {
        await waitFor(() => logged(service, 'auth-relay ready'), { timeoutMs: 20_000 });
        if (openQueuesPage) {
          const session = await logIn({ request: (p, init) => fetch(`http://127.0.0.1:${service.port}${p}`, init) } as Harness);
          expect((await session.get('/dashboard/queues/')).status).toBe(200);
        }
        service.child.kill('SIGTERM');
        expect(await service.exited).toBe(0);
        return (JSON.parse(service.stderr.find((l) => l.includes('bullBoardLoaded'))!) as { bullBoardLoaded: boolean }).bullBoardLoaded;
      } finally {
        service.child.kill('SIGKILL');
      }
    };
    expect(await loadedBy('worker', false)).toBe(false);
    expect(await loadedBy('api', false)).toBe(false);
    expect(await loadedBy('api', true)).toBe(true);
  });

  it('each role started as `node dist/src/main.js` gives itself its heap flags, in the same process, and NODE_OPTIONS keeps its own', async () => {
    const cases: [Record<string, string>, string[]][] = [
      [{ ROLE: 'worker' }, ['--max-semi-space-size=16', '--heap-growing-percent=30', '--max-old-space-size=1024']],
      [{ ROLE: 'api' }, ['--max-semi-space-size=4', '--heap-growing-percent=30', '--max-old-space-size=1024']],
      [{ ROLE: 'api', NODE_OPTIONS: '--max-old-space-size=512' }, ['--max-semi-space-size=4', '--heap-growing-percent=30']],
    ];
    const services = cases.map(([env]) => startService({ METRICS_PORT: String(randomPort()), ...env }));
    try {
      for (const service of services) await waitFor(() => logged(service, 'auth-relay ready'), { timeoutMs: 20_000 });
      const flagsOf = (service: Service) => readFileSync(`/proc/${service.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1);
      expect(services.map(flagsOf)).toEqual(cases.map(([, flags]) => [...flags, MAIN]));
    } finally {
      for (const service of services) service.child.kill('SIGTERM');
      await Promise.all(services.map((service) => service.exited));
    }
  });

  it('refuses to start on a bad setting, naming the variable', async () => {
    const service = startService({ PORT: 'eighty' });
    expect(await service.exited).toBe(1);
    expect(service.stderr.join('\n')).toMatch(/PORT: /);
  });
});

/** The image's HEALTHCHECK command, run as Docker runs it (`/bin/sh -c`), in the container's environment. */
function healthcheck(env: Record<string, string>): Promise<number> {
  const line = readFileSync(path.resolve(__dirname, '../Dockerfile'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('HEALTHCHECK'))!;
  const command = line.slice(line.indexOf(' CMD ') + 5);
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { env: { PATH: process.env.PATH!, ...env } }, (err) => resolve(err ? Number(err.code ?? 1) : 0));
  });
}

describe('the heap flags a process lacks', () => {
  it('are those neither its command line nor NODE_OPTIONS names, however spelled', () => {
    const wanted = ['--max-semi-space-size=4', '--heap-growing-percent=30', '--max-old-space-size=1024'];
    expect(missingHeapFlags(wanted, ['--env-file-if-exists=.env'])).toEqual(wanted);
    expect(missingHeapFlags(wanted, ['--max-semi-space-size=8'], '--max_old_space_size=512  --heap-growing-percent=50')).toEqual([]);
    expect(missingHeapFlags(wanted, [], '--max-old-space-size=512')).toEqual(wanted.slice(0, 2));
  });
});

describe('the metrics listener (METRICS_PORT)', () => {
  it('defaults to 9464 for ROLE=worker only', () => {
    expect(WORKER_METRICS_PORT).toBe(9464);
    expect(metricsPort({ ROLE: 'worker', METRICS_PORT: undefined })).toBe(9464);
    expect(metricsPort({ ROLE: 'api', METRICS_PORT: undefined })).toBeUndefined();
    expect(metricsPort({ ROLE: 'all', METRICS_PORT: 9100 })).toBe(9100);
  });

  it('a ROLE=worker process answers /metrics, /healthz and /readyz on its port, and the HEALTHCHECK passes', async () => {
    const metrics = randomPort();
    const worker = startService({ ROLE: 'worker', METRICS_PORT: String(metrics) });
    const api = startService({ ROLE: 'api' });
    try {
      await waitFor(() => logged(worker, 'auth-relay ready') && logged(worker, 'metrics listening') && logged(api, 'auth-relay ready'), {
        timeoutMs: 20_000,
      });
      const id = await postClerk(api.port);
      await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }), { timeoutMs: 20_000 });

      const base = `http://127.0.0.1:${metrics}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${base}/metrics`)).text();
      // The worker's own counters: only it sent the message.
      expect(text).toMatch(/^auth_relay_message_outcomes_total\{status="sent",provider="outbox",channel="email"\} 1$/m);
      expect(text).toMatch(/^auth_relay_accepted_to_sent_seconds_count\{provider="outbox",channel="email"\} 1$/m);

      expect(await healthcheck({ ROLE: 'worker', METRICS_PORT: String(metrics) })).toBe(0);
      expect(await healthcheck({ ROLE: 'api', PORT: String(api.port) })).toBe(0);
      // Nothing listens there: the check must fail, not pass by accident.
      expect(await healthcheck({ ROLE: 'worker', METRICS_PORT: String(randomPort()) })).not.toBe(0);

      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    } finally {
      worker.child.kill('SIGKILL');
      api.child.kill('SIGKILL');
    }
  });
});
