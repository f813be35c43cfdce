import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import type { Config } from '../../src/config/env';
import { buildContainer, type Container, type ContainerOverrides } from '../../src/container';
import { createApp } from '../../src/app';
import { createLogger } from '../../src/lib/logger';
import { startWorkers, type RunningWorkers } from '../../workers';

/** Everything the service logged, as text, so tests can assert what never reaches the logs. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    done();
  }
  text(): string {
    return this.lines.join('');
  }
}

export interface Harness {
  baseUrl: string;
  container: Container;
  logs: LogCapture;
  workers?: RunningWorkers;
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** The real service (same composition root as src/main.ts) on an ephemeral port. */
export async function startHarness(
  config: Config,
  opts: { workers?: boolean; overrides?: ContainerOverrides; workerTuning?: Parameters<typeof startWorkers>[1] } = {},
): Promise<Harness> {
  const logs = new LogCapture();
  const log = createLogger('debug', logs);
  const container = buildContainer(config, log, opts.overrides);
  await container.queues.send.waitUntilReady();
  const workers = opts.workers ? await startWorkers(container, opts.workerTuning) : undefined;
  const server: Server = createApp(container).listen(0);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    container,
    logs,
    workers,
    request: (path, init) => fetch(`${baseUrl}${path}`, init),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await workers?.close(5_000);
      for (const queue of container.queues.all()) await queue.obliterate({ force: true }).catch(() => undefined);
      await container.close();
    },
  };
}

/** Tests assert on the shape of JSON answers; `any` spares a cast at every call. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const json = (res: Response): Promise<any> => res.json();
