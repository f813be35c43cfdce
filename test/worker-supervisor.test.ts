import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../src/lib/logger';
import { superviseWorkerThread } from '../src/worker-supervisor';
import { waitFor } from './helpers/wait';

/** ROLE=all's worker thread (src/main.ts supervises dist/src/worker-thread.js the same way), with a stand-in script. */

/** Where the stand-in notes that it has crashed once. */
const marker = path.join(tmpdir(), `worker-thread-crashed-${process.pid}`);
afterAll(() => rmSync(marker, { force: true }));

function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('info', destination), lines };
}

it('restarts a worker thread that died, logs it, then reads its metrics and stops it', async () => {
  rmSync(marker, { force: true });
  const { log, lines } = capturingLogger();
  const supervisor = superviseWorkerThread(path.join(__dirname, 'fixtures/worker-thread-crashes-once.js'), log);
  try {
    await supervisor.ready;
    const died = lines.find((l) => l.msg === 'worker thread stopped unexpectedly; restarting it');
    expect(died).toMatchObject({ level: 'error', exit_code: 1, restart_in_ms: 1_000 });
    expect(lines.find((l) => l.msg === 'worker thread failed')?.err).toBe('worker thread crashed on purpose');
    await waitFor(() => lines.some((l) => l.msg === 'worker thread ready'));
    expect((await supervisor.metrics()).map((m) => m.name)).toEqual(['jobs_done_total']);
  } finally {
    await supervisor.stop(5_000);
  }
  // Stopped on request: not restarted, and a scrape now goes without the thread's metrics.
  await new Promise((r) => setTimeout(r, 1_500));
  expect(lines.filter((l) => l.msg === 'worker thread stopped unexpectedly; restarting it')).toHaveLength(1);
  expect(await supervisor.metrics()).toEqual([]);
});
