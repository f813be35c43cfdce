import { redisKeys } from '../../src/lib/redis';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createQueues } from '../../src/queue/catalog';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, TEST_REDIS_URL } from './config';
import { randomPort } from './redis-server';

/** The built service (`node dist/src/main.js`, what `npm start` runs) as a real process. */
export const MAIN = path.resolve(__dirname, '../../dist/src/main.js');

export interface Service {
  child: ChildProcess;
  port: number;
  lines: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

/** Starts `script` (default: the service) on a free port with the test's settings plus `env`. */
export function startService(env: Record<string, string>, script = MAIN): Service {
  const port = randomPort();
  const child = spawn(process.execPath, [script], {
    env: {
      PATH: process.env.PATH!,
      NODE_ENV: 'test',
      PORT: String(port),
      REDIS_URL: TEST_REDIS_URL,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      CLERK_WEBHOOK_SIGNING_SECRET: TEST_CLERK_SECRET,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, port, lines, stderr, exited };
}

export const logged = (service: Service, msg: string): boolean =>
  service.lines.some((l) => {
    try {
      return JSON.parse(l).msg === msg;
    } catch {
      return false;
    }
  });

/** Polls `path` until it answers `status`; returns the body. */
export async function answersWith(service: Service, path: string, status: number): Promise<unknown> {
  try {
    const res = await fetch(`http://127.0.0.1:${service.port}${path}`);
    return res.status === status ? ((await res.json()) as unknown) : false;
  } catch {
    return false;
  }
}

/** Removes the queues service processes left under `prefix` in the shared Redis (they schedule maintenance jobs). */
export async function obliterateQueues(prefix: string): Promise<void> {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  await Promise.all(
    createQueues(connection, redisKeys(prefix, 'standalone'))
      .all()
      .map((queue) => queue.obliterate({ force: true })),
  );
  connection.disconnect();
}
