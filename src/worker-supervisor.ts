import { Worker } from 'node:worker_threads';
import type { Logger } from './lib/logger';
import type { MetricsJson } from './metrics/metrics';
import type { FromWorkerThread, ToWorkerThread } from './worker-thread';

/** A thread that died is started again after 1 s, then twice as long each time it dies again, up to this. */
const MAX_RESTART_DELAY_MS = 30_000;
/** A thread that ran this long without dying starts the restart delay over. */
const HEALTHY_AFTER_MS = 60_000;
/**
 * The thread's young generation, what `--max-semi-space-size=8` would give it. The main thread runs with 4
 * (heap-flags.ts); the peak memory measured with that (README, "Roles") had the thread at this.
 */
const YOUNG_GENERATION_MB = 24;
/** A scrape waits this long for the thread's metrics, then goes without them. */
const METRICS_TIMEOUT_MS = 1_000;

export interface WorkerSupervisor {
  /** Resolves once the thread's workers first take jobs. */
  ready: Promise<void>;
  /** The thread's counters and histograms (none while it is down or restarting). */
  metrics(): Promise<MetricsJson>;
  /** Asks the thread to finish its jobs (it waits `SHUTDOWN_GRACE_MS`), terminating it past `deadlineMs`. */
  stop(deadlineMs: number): Promise<void>;
}

/**
 * Runs `script` (worker-thread.js) in a worker thread and keeps it running: a thread that throws or exits is
 * logged and started again, with backoff, until `stop`.
 */
export function superviseWorkerThread(script: string, log: Logger): WorkerSupervisor {
  let thread: Worker;
  let stopping = false;
  let restartDelay = 1_000;
  let nextMetricsId = 0;
  const waitingMetrics = new Map<number, (metrics: MetricsJson) => void>();
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  function start(): void {
    if (stopping) return;
    const startedAt = Date.now();
    thread = new Worker(script, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    thread.on('message', (message: FromWorkerThread) => {
      if (message.type === 'ready') {
        log.info({ thread_id: thread.threadId }, 'worker thread ready');
        markReady();
      } else if (message.type === 'metrics') {
        waitingMetrics.get(message.id)?.(message.metrics);
      }
    });
    thread.on('error', (err) => log.error({ err: err.message, stack: err.stack }, 'worker thread failed'));
    thread.on('exit', (code) => {
      for (const answer of waitingMetrics.values()) answer([]);
      waitingMetrics.clear();
      if (stopping) return;
      if (Date.now() - startedAt > HEALTHY_AFTER_MS) restartDelay = 1_000;
      log.error({ exit_code: code, restart_in_ms: restartDelay }, 'worker thread stopped unexpectedly; restarting it');
      setTimeout(start, restartDelay);
      restartDelay = Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
    });
  }
  start();

  const post = (message: ToWorkerThread) => thread.postMessage(message);
  return {
    ready,
    metrics() {
      const id = nextMetricsId++;
      return new Promise<MetricsJson>((resolve) => {
        const timer = setTimeout(() => answer([]), METRICS_TIMEOUT_MS);
        const answer = (metrics: MetricsJson) => {
          clearTimeout(timer);
          waitingMetrics.delete(id);
          resolve(metrics);
        };
        waitingMetrics.set(id, answer);
        post({ type: 'metrics', id });
      });
    },
    async stop(deadlineMs) {
      stopping = true;
      if (thread.threadId === -1) return; // already gone
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      post({ type: 'stop' });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), deadlineMs)));
      if ((await Promise.race([exited, late])) === 'late') {
        log.warn({ deadline_ms: deadlineMs }, 'worker thread did not stop in time; terminating it');
        await thread.terminate();
      }
      clearTimeout(timer);
    },
  };
}
