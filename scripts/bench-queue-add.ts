/**
 * `npm run bench:queue-add`: what one send job costs the process that queues it, by the way it is added, on
 * the relay's send queue and connection as production makes them (BullMQ's scripts loaded on it). The
 * receiver queues each group of accepted messages in one call (delivery/message-service.ts); under light load
 * the group is one message, and `addJobs` (queue/queues.ts) then uses `add`, not `addBulk`, whose ioredis
 * pipeline copies every loaded script onto itself. Rounds interleave the two ways; CPU is this process's.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisKeys } from '../src/lib/redis';
import { createQueues, sendJob } from '../src/queue/catalog';
import { addJobs } from '../src/queue/queues';
import { deleteKeys, machine, REDIS_URL } from './bench-relay';

const JOBS = Number(process.env.BENCH_JOBS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** CPU and wall microseconds a job, adding `JOBS` one after the other with `add`. */
async function timed(add: (messageId: string) => Promise<unknown>): Promise<{ cpu: number; wall: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < JOBS; i += 1) await add(`msg_${randomBytes(8).toString('hex')}`);
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / JOBS, wall: ((performance.now() - started) * 1000) / JOBS };
}

async function main(): Promise<void> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = `bench-queue-add-${Date.now()}`;
  const queues = createQueues(connection, redisKeys(prefix, 'standalone'));
  const queue = queues.send;
  await Promise.all(queues.all().map((q) => q.waitUntilReady()));
  const bulk = (id: string) => queue.addBulk([sendJob(id)]);
  const single = (id: string) => addJobs(queue, [sendJob(id)]);
  try {
    await timed(bulk);
    await timed(single);
    console.log(
      `\nbench:queue-add — ${JOBS} send jobs a round, one at a time; ${Object.keys(connection.scriptsSet).length} scripts loaded on the connection`,
    );
    console.log(`machine ${machine()}`);
    for (let round = 1; round <= ROUNDS; round += 1) {
      const b = await timed(bulk);
      const s = await timed(single);
      console.log(
        `round ${round}  addBulk of one: ${b.cpu.toFixed(0)} µs CPU, ${b.wall.toFixed(0)} µs wall a job; addJobs (add): ${s.cpu.toFixed(0)} µs CPU, ${s.wall.toFixed(0)} µs wall; CPU ratio ${(s.cpu / b.cpu).toFixed(2)}`,
      );
    }
  } finally {
    await queues.close();
    connection.disconnect();
    await deleteKeys(prefix);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
