/**
 * `npm run bench:deliver`: how fast one send worker drains queued messages to Resend, against a bare BullMQ
 * worker making the same provider call at the same concurrency in the same run, and against the ideal
 * min(provider rate, concurrency / latency) for a provider answering in a fixed 50 ms and announcing
 * 100,000/s. The relay runs as in production (`dist/src/main.js`, one API and one worker process, default
 * settings); the fake Resend and the load run in this process, so every timestamp comes from one clock.
 *
 *  0. warm-up: a few messages through a running worker, so Resend's reported rate limit is known (as it is
 *     in any deployment after its first minutes) and connections and JIT are warm;
 *  1. rounds, interleaved: N webhooks are accepted with no worker running, a worker process drains them;
 *     then N bare jobs are queued and the bare worker drains them. Each rate is taken between the first and
 *     the last provider request;
 *  2. latency: with a worker running, M more webhooks at a steady rate; p50/p99 of (provider request − 202).
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BARE_QUEUE,
  benchPort,
  cleanUp,
  cpuMs,
  machine,
  percentile,
  postWebhooks,
  REDIS_URL,
  relayEnv,
  RESEND_KEY,
  startFakeResend,
  startProcess,
  stopProcess,
  until,
  type FakeResend,
} from './bench-relay';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const LATENCY_MESSAGES = Number(process.env.BENCH_LATENCY_MESSAGES ?? 300);
const LATENCY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 50);
const WARM_UP_MESSAGES = 5;
const PROVIDER_LATENCY_MS = 50;
const PROVIDER_RATE = 100_000;
/** RESEND_CONCURRENCY's default: the most sends the relay keeps in flight; the bare worker runs this many jobs. */
const CONCURRENCY = 50;
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const DB_NAME = `auth_relay_bench_${Date.now()}`;
const PREFIX = `bench-${Date.now()}`;

/** Messages per second between the first and the last of `keys` to reach the provider. */
function drainRate(resend: FakeResend, keys: string[]): { rate: number; seconds: number } {
  const times = keys.map((key) => resend.firstSeen.get(key)!).sort((a, b) => a - b);
  const seconds = (times.at(-1)! - times[0]!) / 1000;
  return { rate: (keys.length - 1) / seconds, seconds };
}

async function main(): Promise<void> {
  const resend = await startFakeResend(PROVIDER_LATENCY_MS);
  const port = benchPort();
  const env = relayEnv({ port, dbName: DB_NAME, prefix: PREFIX, secret: SECRET, resendUrl: resend.url });
  const webhookUrl = `http://127.0.0.1:${port}/webhooks/clerk`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const bareQueue = new Queue(BARE_QUEUE, { connection: redis, prefix: PREFIX });
  const api = await startProcess({ ...env, ROLE: 'api' }, `http://127.0.0.1:${port}/readyz`);
  const rounds: { relay: number; bare: number; cpuPerMessage?: number; bareCpuPerMessage?: number }[] = [];
  let worker = api;
  try {
    const warmUp = await startProcess({ ...env, ROLE: 'worker', PORT: '0' });
    const warm = await postWebhooks(webhookUrl, SECRET, WARM_UP_MESSAGES, { parallel: 1 });
    await until(() => [...warm.accepted.keys()].every((id) => resend.firstSeen.has(`auth-message/${id}`)), 60_000, 'the warm-up messages');
    await stopProcess(warmUp);

    for (let round = 0; round < ROUNDS; round += 1) {
      const backlog = await postWebhooks(webhookUrl, SECRET, MESSAGES, { parallel: 16 });
      const keys = [...backlog.accepted.keys()].map((id) => `auth-message/${id}`);
      worker = await startProcess({ ...env, ROLE: 'worker', PORT: '0' });
      await until(() => keys.some((key) => resend.firstSeen.has(key)), 60_000, 'the first provider request');
      const cpuBefore = cpuMs(worker.pid);
      await until(() => keys.every((key) => resend.firstSeen.has(key)), 600_000, `${MESSAGES} provider requests`);
      const cpuAfter = cpuMs(worker.pid);
      await stopProcess(worker);
      const relay = drainRate(resend, keys);

      const bareIds = Array.from({ length: MESSAGES }, () => randomBytes(8).toString('hex'));
      await bareQueue.addBulk(bareIds.map((id) => ({ name: 'send', data: { id } })));
      const bareWorker = await startProcess(
        { QUEUE_PREFIX: PREFIX, RESEND_API_KEY: RESEND_KEY, RESEND_BASE_URL: resend.url, BARE_CONCURRENCY: String(CONCURRENCY) },
        undefined,
        'scripts/bench-bare-worker.js',
      );
      const bareKeys = bareIds.map((id) => `bare/${id}`);
      await until(() => bareKeys.some((key) => resend.firstSeen.has(key)), 60_000, 'the first bare provider request');
      const bareCpuBefore = cpuMs(bareWorker.pid);
      await until(() => bareKeys.every((key) => resend.firstSeen.has(key)), 600_000, `${MESSAGES} bare provider requests`);
      const bareCpuAfter = cpuMs(bareWorker.pid);
      await stopProcess(bareWorker);
      const perMessage = (before: number | undefined, after: number | undefined) =>
        before !== undefined && after !== undefined ? (after - before) / (MESSAGES - 1) : undefined;
      rounds.push({
        relay: relay.rate,
        bare: drainRate(resend, bareKeys).rate,
        cpuPerMessage: perMessage(cpuBefore, cpuAfter),
        bareCpuPerMessage: perMessage(bareCpuBefore, bareCpuAfter),
      });
    }

    worker = await startProcess({ ...env, ROLE: 'worker', PORT: '0' });
    // Once one message has gone through, the worker is up (its start is no part of a message's wait).
    const first = await postWebhooks(webhookUrl, SECRET, 1, { parallel: 1 });
    await until(() => [...first.accepted.keys()].every((id) => resend.firstSeen.has(`auth-message/${id}`)), 60_000, 'the worker to start');
    const steady = await postWebhooks(webhookUrl, SECRET, LATENCY_MESSAGES, { perSecond: LATENCY_RATE });
    const steadyIds = [...steady.accepted.keys()];
    await until(() => steadyIds.every((id) => resend.firstSeen.has(`auth-message/${id}`)), 60_000, 'the steady messages');
    const waits = [...steady.accepted].map(([id, at]) => resend.firstSeen.get(`auth-message/${id}`)! - at).sort((a, b) => a - b);

    const ideal = Math.min(PROVIDER_RATE, CONCURRENCY / (PROVIDER_LATENCY_MS / 1000));
    console.log(
      `\nbench:deliver — fake Resend answering in ${PROVIDER_LATENCY_MS} ms, announcing ${PROVIDER_RATE}/s; default settings (at most ${CONCURRENCY} in flight); one API and one worker process`,
    );
    console.log(`machine     ${machine()}`);
    rounds.forEach((r, i) => {
      const cpu =
        r.cpuPerMessage === undefined || r.bareCpuPerMessage === undefined
          ? ''
          : `; CPU per message: relay worker ${r.cpuPerMessage.toFixed(2)} ms, bare worker ${r.bareCpuPerMessage.toFixed(2)} ms`;
      console.log(
        `round ${i + 1}     ${MESSAGES} queued: relay ${r.relay.toFixed(0)} msg/s, bare BullMQ worker (concurrency ${CONCURRENCY}) ${r.bare.toFixed(0)} msg/s, ratio ${(r.relay / r.bare).toFixed(2)}${cpu}`,
      );
    });
    const relay = rounds.reduce((s, r) => s + r.relay, 0) / rounds.length;
    const bare = rounds.reduce((s, r) => s + r.bare, 0) / rounds.length;
    console.log(
      `throughput  relay ${relay.toFixed(0)} msg/s; vs bare worker ${(relay / bare).toFixed(2)} (goal ≥ 0.8); vs ideal ${ideal.toFixed(0)} msg/s = min(rate, ${CONCURRENCY} / ${PROVIDER_LATENCY_MS} ms): ${(relay / ideal).toFixed(2)} (goal ≥ 0.8)`,
    );
    console.log(
      `latency     ${steadyIds.length} messages at ${LATENCY_RATE}/s: webhook 202 → provider request p50 ${percentile(waits, 50).toFixed(1)} ms, p99 ${percentile(waits, 99).toFixed(1)} ms`,
    );
    const relayKeys = [...resend.requestsByKey].filter(([key]) => key.startsWith('auth-message/'));
    console.log(`once each   ${relayKeys.length} messages, ${relayKeys.filter(([, n]) => n > 1).length} requested more than once`);
  } finally {
    await stopProcess(worker);
    await stopProcess(api);
    resend.close();
    await bareQueue.close();
    redis.disconnect();
    await cleanUp(PREFIX, DB_NAME);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
