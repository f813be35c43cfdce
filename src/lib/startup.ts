/**
 * What the process still waits for before it is ready (migrations, a first Redis connection), so `/readyz`
 * and the webhook routes can say so while the HTTP server already listens. Empty once started; tests that
 * build a container without a start-up sequence are ready at once.
 */
export interface StartupState {
  /** Each pending step as an operator reads it, naming its variable. */
  pending(): string[];
  /** Marks a step pending; the returned function marks it done. */
  begin(step: string): () => void;
}

export function createStartupState(): StartupState {
  const steps = new Set<string>();
  return {
    pending: () => [...steps],
    begin(step) {
      steps.add(step);
      return () => steps.delete(step);
    },
  };
}
