/**
 * Group commit for the send path's statements, as the receiver does for accepts (message-service.ts): a call
 * that finds no statement in flight is written at once; calls that arrive while one is in flight go together
 * in the next one. No timer, so batching never adds latency; under a worker's concurrency it turns N round
 * trips, N statements and N commits into a few.
 */

/** Bounds one statement's rows (and so its locks and its size on the wire). */
export const MAX_SEND_BATCH = 100;

interface Pending<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions<In, Out> {
  /**
   * Writes a batch in one statement; answers each item, in the items' order. Its failure rejects every
   * caller of that batch with the error.
   */
  write: (items: In[]) => Promise<Out[]>;
  /**
   * Items with the same key never share a batch: the later waits for the next one, so two calls for the same
   * message behave as two statements one after the other would.
   */
  keyOf: (item: In) => string;
  /**
   * Errors that may be one item's (its data): then each item of the failed batch is written again alone, so
   * one bad row fails only its own caller. The failed batch rolled back whole, so writing again is safe.
   */
  mayBeOneItems?: (err: unknown) => boolean;
  maxBatch?: number;
}

/**
 * Postgres' data exceptions (SQLSTATE class 22), which one row's value can cause: a NUL in a text value or a
 * `\u0000` in JSON (a provider's message id or detail is outside text), an invalid timestamp.
 */
export const isDataError = (err: unknown): boolean => /^22/.test(String((err as { code?: unknown }).code ?? ''));

export function groupCommit<In, Out>({
  write,
  keyOf,
  mayBeOneItems = () => false,
  maxBatch = MAX_SEND_BATCH,
}: GroupCommitOptions<In, Out>): (item: In) => Promise<Out> {
  let waiting: Pending<In, Out>[] = [];
  let writing = false;

  /** The next batch: the oldest waiting items, up to `maxBatch`, each key once; the rest keep their order. */
  function takeBatch(): Pending<In, Out>[] {
    const batch: Pending<In, Out>[] = [];
    const keys = new Set<string>();
    const rest: Pending<In, Out>[] = [];
    for (const pending of waiting) {
      const key = keyOf(pending.item);
      if (batch.length < maxBatch && !keys.has(key)) {
        keys.add(key);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    waiting = rest;
    return batch;
  }

  async function writeAlone(pending: Pending<In, Out>): Promise<void> {
    try {
      pending.resolve((await write([pending.item]))[0]!);
    } catch (err) {
      pending.reject(err);
    }
  }

  async function drain(): Promise<void> {
    writing = true;
    try {
      while (waiting.length > 0) {
        const batch = takeBatch();
        try {
          const answers = await write(batch.map((pending) => pending.item));
          batch.forEach((pending, i) => pending.resolve(answers[i]!));
        } catch (err) {
          if (batch.length > 1 && mayBeOneItems(err)) for (const pending of batch) await writeAlone(pending);
          else for (const pending of batch) pending.reject(err);
        }
      }
    } finally {
      writing = false;
    }
  }

  return (item: In) =>
    new Promise<Out>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!writing) void drain();
    });
}
