/**
 * ROLE=all's workers, in a worker thread of their own (started by worker-supervisor.ts): the same workers a
 * ROLE=worker process runs, on an event loop apart from the receiver's, so sending never delays intake and
 * the two use both cores. Messages to the main thread: `ready`, `metrics` (answering a scrape), `stopped`.
 */
import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import pino from 'pino';
import { startWorkers, type RunningWorkers } from '../workers';
import { parseConfig } from './config/env';
import { buildContainer } from './container';
import { redisReady, SHUTDOWN_GRACE_MS } from './lifecycle';
import { createLogger } from './lib/logger';
import { startTracing } from './lib/tracing';
import type { MetricsJson } from './metrics/metrics';

export type ToWorkerThread = { type: 'metrics'; id: number } | { type: 'stop' };
export type FromWorkerThread = { type: 'ready' } | { type: 'metrics'; id: number; metrics: MetricsJson } | { type: 'stopped' };

/**
 * This thread's nice value (Linux schedules threads apart; the receiver's thread stays at 0). When both want the
 * same core, accepting a webhook (which makes it durable and answers the sender) goes first and sending takes
 * what is left, catching up as soon as the burst eases; with a core to spare it changes nothing.
 */
const WORKER_THREAD_NICE = 10;

const port = parentPort!;
const send = (message: FromWorkerThread) => port.postMessage(message);

async function main(): Promise<void> {
  // Only ever lower: raising a priority needs privileges, and a process already started nicer stays so.
  setPriority(Math.max(getPriority(), WORKER_THREAD_NICE));
  const config = parseConfig(process.env);
  // A thread has its own module state: without its own tracer the send and provider spans would be lost.
  const tracing = await startTracing(config);
  // Written synchronously: a thread's buffered lines would be lost when it ends (pino flushes the main thread's).
  const log = createLogger(config.LOG_LEVEL, pino.destination({ dest: 1, sync: true })).child({ thread: 'workers' });
  const container = buildContainer(config, log);
  const stop = new AbortController();
  let workers: RunningWorkers | undefined;
  const started = redisReady(container, stop.signal).then(async () => {
    if (stop.signal.aborted) return;
    workers = await startWorkers(container);
    send({ type: 'ready' });
  });

  port.on('message', (message: ToWorkerThread) => {
    if (message.type === 'metrics') {
      // process_* describe the whole process, which the main thread already reports.
      void container.metrics.registry.getMetricsAsJSON().then((metrics) => {
        send({ type: 'metrics', id: message.id, metrics: (metrics as MetricsJson).filter((m) => !m.name.startsWith('process_')) });
      });
      return;
    }
    stop.abort();
    void started
      .catch(() => undefined)
      .then(() => workers?.close(SHUTDOWN_GRACE_MS))
      .then(() => container.close())
      .then(() => tracing.shutdown())
      .finally(() => {
        send({ type: 'stopped' });
        port.close();
      });
  });
}

void main();
