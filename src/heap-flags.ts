import type { Config } from './config/env';

/** The roles differ in their young generation only. */
const withSemiSpace = (mb: number): readonly string[] => [
  `--max-semi-space-size=${mb}`,
  '--heap-growing-percent=30',
  '--max-old-space-size=1024',
];

/**
 * V8's heap flags by role, which the process gives itself at start (`applyHeapFlags`), so `npm start`, the image
 * and a hand-written `node dist/src/main.js` all run with them. Measured (README, "Roles" and Benchmarks):
 * - `--max-semi-space-size`: the young generation. 4 (8 MB) keeps a receiver's peak RSS low, where V8's default
 *   grows to 128 MB; `ROLE=all`'s sending thread has its own (worker-supervisor.ts). A `ROLE=worker` process
 *   sends on its main thread, and with 4 spent about a tenth more CPU a message collecting garbage than with 16.
 * - `--heap-growing-percent=30`: V8 collects once the old generation has grown 30 % past what the last
 *   collection kept, where it let it grow up to 4 times on a large host.
 * - `--max-old-space-size=1024`: about 20 times what a process keeps live (45-55 MB).
 */
export const HEAP_FLAGS: Record<Config['ROLE'], readonly string[]> = {
  all: withSemiSpace(4),
  api: withSemiSpace(4),
  worker: withSemiSpace(16),
};

const flagName = (arg: string): string => arg.split('=')[0]!.replace(/_/g, '-');

/**
 * The flags of `wanted` that neither the command line nor NODE_OPTIONS names: an operator's own value
 * (`NODE_OPTIONS=--max-old-space-size=512` in a small container) wins over ours.
 */
export function missingHeapFlags(wanted: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)].map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}

/**
 * Gives this process the heap flags of `ROLE` (as config/env.ts reads it: unset or blank is `all`): when it
 * lacks any, it replaces itself (execve: the same pid, stdio and environment, nothing else kept) with
 * `node <its own flags> <the missing ones> <its script and arguments>`. V8 sizes the heap as the process
 * starts, so a flag cannot be applied later. Returns when nothing is missing; for a ROLE that is none of
 * ours, which the config then refuses; and where execve is not available (Windows: V8's defaults).
 */
export function applyHeapFlags(role = process.env.ROLE?.trim() || 'all'): void {
  if (!Object.hasOwn(HEAP_FLAGS, role)) return;
  const missing = missingHeapFlags(HEAP_FLAGS[role as Config['ROLE']], process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length === 0 || typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...missing, ...process.argv.slice(1)]);
}
