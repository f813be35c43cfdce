import { setTimeout as sleep } from 'node:timers/promises';
import type { Container } from './container';
import { errorText } from './db/unreachable';

/** How long in-flight jobs get to finish on SIGTERM before they are left to be retried elsewhere. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** Start-up retries a step that failed after 1 s, then twice as long each time, up to this. */
const MAX_RETRY_DELAY_MS = 30_000;

/** Runs one start-up step until it succeeds (or the process stops), marked pending meanwhile. */
export async function untilDone(container: Container, step: string, attempt: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
  const done = container.startup.begin(step);
  try {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
      try {
        await attempt();
        return;
      } catch (err) {
        container.log.error({ err: errorText(err), retry_in_ms: delay }, `start-up: ${step} failed; retrying`);
        await sleep(delay, undefined, { signal });
      }
    }
  } finally {
    done();
  }
}

/** BullMQ waits for a Redis that is down at start (ioredis reconnects) rather than failing. */
export const redisReady = (container: Container, signal: AbortSignal): Promise<void> =>
  untilDone(container, 'connecting to Redis (REDIS_URL)', () => Promise.all(container.queues.all().map((q) => q.waitUntilReady())), signal);
