/**
 * `npm run bench:e2e`: how long a code waits in the relay, end to end, with the default settings. A steady
 * stream of signed Clerk `email.created` webhooks against a fake Resend answering after 50 ms and announcing
 * 100,000/s in its `ratelimit-*` headers:
 *  1. 200/s for 30 s to one `ROLE=all` process (what `npm start` runs);
 *  2. 500/s for 30 s to one `ROLE=api` and one `ROLE=worker` process.
 * For each: webhook 2xx → provider request p50/p99, and how many accepted messages never reached the provider
 * (lost) or reached it more than once (duplicated, though under the same idempotency key). Goal: p99 < 100 ms, 0 lost, 0 duplicated. The
 * processes are warmed first, as in any deployment after its first minutes: a few messages one by one (so Resend's
 * reported rate is known), then WARM_UP_SECONDS at the phase's rate (JIT, connection pools), not counted, and the
 * tables analyzed.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  benchPort,
  cleanUp,
  machine,
  percentile,
  PG,
  postWebhooks,
  relayEnv,
  settle,
  startFakeResend,
  startProcess,
  stopProcess,
  until,
  type FakeResend,
} from './bench-relay';

const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 30);
const PHASES = [
  { name: 'ROLE=all', perSecond: Number(process.env.BENCH_E2E_RATE_ALL ?? 200), split: false },
  { name: 'ROLE=api + ROLE=worker', perSecond: Number(process.env.BENCH_E2E_RATE_SPLIT ?? 500), split: true },
];
const PROVIDER_LATENCY_MS = 50;
const WARM_UP_MESSAGES = 5;
const WARM_UP_SECONDS = 3;
/** How long after the last webhook a message may still reach the provider before it counts as lost. */
const GRACE_MS = 60_000;
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const DB_NAME = `auth_relay_bench_e2e_${Date.now()}`;
const PREFIX = `bench-e2e-${Date.now()}`;

/**
 * What autovacuum does within a minute of a table's first rows. Without it the database made for this run keeps
 * the plans Postgres cached for the send statements while the tables were empty (sequential scans), and each
 * send then reads the whole table: 7,759 scans of 46.7 M rows in one 30 s phase, the wait growing with it.
 */
async function analyze(): Promise<void> {
  const client = new Client({ connectionString: `${PG}/${DB_NAME}` });
  await client.connect();
  await client.query('ANALYZE messages, message_contents, message_events, suppressions');
  await client.end();
}

async function runPhase(resend: FakeResend, phase: (typeof PHASES)[number], port: number): Promise<string> {
  const env = relayEnv({ port, dbName: DB_NAME, prefix: PREFIX, secret: SECRET, resendUrl: resend.url });
  const ready = `http://127.0.0.1:${port}/readyz`;
  const children: ChildProcess[] = [];
  try {
    children.push(await startProcess({ ...env, ROLE: phase.split ? 'api' : 'all' }, ready));
    if (phase.split) children.push(await startProcess({ ...env, ROLE: 'worker', PORT: '0' }));
    const webhookUrl = `http://127.0.0.1:${port}/webhooks/clerk`;
    const warm = await postWebhooks(webhookUrl, SECRET, WARM_UP_MESSAGES, { parallel: 1 });
    await until(() => [...warm.accepted.keys()].every((id) => resend.firstSeen.has(`auth-message/${id}`)), 60_000, 'the warm-up messages');
    const warmAtRate = await postWebhooks(webhookUrl, SECRET, phase.perSecond * WARM_UP_SECONDS, { perSecond: phase.perSecond });
    await settle(() => [...warmAtRate.accepted.keys()].every((id) => resend.firstSeen.has(`auth-message/${id}`)), GRACE_MS);
    await analyze();

    const count = phase.perSecond * SECONDS;
    const started = performance.now();
    const posted = await postWebhooks(webhookUrl, SECRET, count, { perSecond: phase.perSecond });
    const offeredSeconds = (performance.now() - started) / 1000;
    const ids = [...posted.accepted.keys()];
    const reached = (id: string) => resend.firstSeen.has(`auth-message/${id}`);
    await settle(() => ids.every(reached), GRACE_MS);
    // Late repeats (a retry, a sweep) would show up now, not later.
    await new Promise((r) => setTimeout(r, 2_000));

    const waits = ids
      .filter(reached)
      .map((id) => resend.firstSeen.get(`auth-message/${id}`)! - posted.accepted.get(id)!)
      .sort((a, b) => a - b);
    const lost = ids.filter((id) => !reached(id)).length;
    const duplicated = ids.filter((id) => (resend.requestsByKey.get(`auth-message/${id}`) ?? 0) > 1).length;
    const refused = [...posted.refused].map(([status, n]) => `${n} × ${status}`).join(', ') || 'none';
    const p99 = percentile(waits, 99);
    return [
      `${phase.name}, ${phase.perSecond}/s for ${SECONDS} s (offered in ${offeredSeconds.toFixed(1)} s): ${ids.length} accepted, refused ${refused}`,
      `  webhook 2xx → provider request p50 ${percentile(waits, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${waits.at(-1)?.toFixed(0)} ms (goal p99 < 100 ms: ${p99 < 100 ? 'met' : 'missed'})`,
      // A repeat carries the same idempotency key (a retry after a timeout), which the real Resend sends once.
      `  lost ${lost}, requested more than once ${duplicated} (goal 0 and 0)`,
      `  machine after the phase: ${machine()}`,
    ].join('\n');
  } finally {
    for (const child of children.reverse()) await stopProcess(child);
  }
}

async function main(): Promise<void> {
  const resend = await startFakeResend(PROVIDER_LATENCY_MS);
  const lines: string[] = [];
  try {
    // A rate of 0 skips that phase.
    for (const phase of PHASES.filter((p) => p.perSecond > 0)) lines.push(await runPhase(resend, phase, benchPort()));
    console.log(`\nbench:e2e — fake Resend answering after ${PROVIDER_LATENCY_MS} ms, announcing 100000/s; default settings`);
    console.log(`machine ${machine()}`);
    for (const line of lines) console.log(line);
  } finally {
    resend.close();
    await cleanUp(PREFIX, DB_NAME);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
