import type { SkipRun, SkipRuns } from '../queue/catalog';
import type { MessageStore } from './message-store';
import type { SkipDetail } from './timeline';

/** A run's event is brought up to date at most this often while the message keeps waiting. */
export const SKIP_WRITE_INTERVAL_MS = 15_000;

function detailOf(run: SkipRun): SkipDetail {
  return { reason: run.reason, retry_in_ms: run.retryInMs, count: run.count, first_at: run.firstAt, last_at: run.lastAt };
}

/**
 * Coalesces a waiting message's skips: a new (provider, reason) inserts one event, each further re-check only
 * counts in memory (the job's data), and Postgres sees the count when the run changes, ends, or every
 * SKIP_WRITE_INTERVAL_MS, so a rate limit neither floods the timeline nor writes on every re-check.
 */
export function createSkipLog(store: Pick<MessageStore, 'recordSkip' | 'updateSkip'>, messageId: string, carried: SkipRuns | undefined) {
  const runs: SkipRuns = { ...carried };

  async function write(run: SkipRun, at: Date): Promise<void> {
    await store.updateSkip(run.eventId, detailOf(run));
    run.writtenCount = run.count;
    run.writtenAt = at.toISOString();
  }

  return {
    async record(provider: string, reason: string, retryInMs: number, at: Date): Promise<void> {
      const run = runs[provider];
      if (run && run.reason === reason) {
        run.count += 1;
        run.lastAt = at.toISOString();
        run.retryInMs = retryInMs;
        if (at.getTime() - Date.parse(run.writtenAt) >= SKIP_WRITE_INTERVAL_MS) await write(run, at);
        return;
      }
      if (run && run.count > run.writtenCount) await write(run, at);
      const first: Omit<SkipRun, 'eventId'> = {
        reason,
        count: 1,
        firstAt: at.toISOString(),
        lastAt: at.toISOString(),
        retryInMs,
        writtenCount: 1,
        writtenAt: at.toISOString(),
      };
      const eventId = await store.recordSkip(messageId, provider, at, detailOf({ ...first, eventId: '' }));
      runs[provider] = { ...first, eventId };
    },
    /** The message stopped waiting (sent, failed, tried a provider): every run's event gets its final count. */
    async settle(at: Date): Promise<void> {
      for (const run of Object.values(runs)) if (run.count > run.writtenCount) await write(run, at);
    },
    runs(): SkipRuns | undefined {
      return Object.keys(runs).length > 0 ? runs : undefined;
    },
  };
}

export type SkipLog = ReturnType<typeof createSkipLog>;
