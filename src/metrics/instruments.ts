import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Counters and histograms made on `registry` (never prom-client's global one), so every metric of a process is
 * defined the same way: name, help, label names and, for a histogram, its buckets.
 */
export function instrumentsOn(registry: Registry) {
  return {
    counter: <T extends string>(name: string, help: string, labelNames: readonly T[]): Counter<T> =>
      new Counter({ name, help, labelNames, registers: [registry] }),
    histogram: <T extends string>(name: string, help: string, labelNames: readonly T[], buckets: number[]): Histogram<T> =>
      new Histogram({ name, help, labelNames, buckets, registers: [registry] }),
  };
}
