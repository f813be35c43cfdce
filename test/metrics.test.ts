import { emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { resendEvent, sentMessage, signedResend, TEST_RESEND_WEBHOOK_SECRET } from './helpers/provider-webhooks';
import { seedMessage } from './helpers/seed';
import { svixHeaders } from './helpers/svix';
import { waitFor } from './helpers/wait';
import { createProviderHealth } from '../src/providers/provider-health';
import type { EmailProvider } from '../src/providers/types';

let database: TestDatabase;
let harness: Harness;
let failNext = 0;

const provider: EmailProvider = {
  name: 'fake',
  channel: 'email',
  async send(m) {
    if (failNext > 0) {
      failNext -= 1;
      return { kind: 'retry' as const, message: '503 try later', status: null, retryAfterMs: 10, unanswered: false };
    }
    return { kind: 'sent' as const, providerMessageId: `fake_${m.messageId}` };
  },
};

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url, { RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET }), {
    workers: true,
    // Short, so the shared gauges (read on a timer, not per scrape) follow the test's changes quickly.
    overrides: { providers: { email: [provider], sms: [] }, sharedGaugesIntervalMs: 100 },
  });
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

type Sample = { name: string; labels: Record<string, string>; value: number };

/**
 * A strict reading of the Prometheus text format (0.0.4): every line is a HELP or TYPE comment or a sample
 * `name{label="value",...} number` (NaN in any case, as Go's ParseFloat reads it); every sample's family
 * was declared by a TYPE line before it.
 */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  const metricName = /[a-zA-Z_:][a-zA-Z0-9_:]*/.source;
  const labelPair = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
  const sampleLine = new RegExp(
    `^(${metricName})(?:\\{((?:${labelPair})(?:,${labelPair})*)?,?\\})? (-?(?:\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?|[Nn]a[Nn]|\\+Inf|-Inf))$`,
  );
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = line.match(new RegExp(`^# HELP (${metricName}) .*$`));
    if (help) continue;
    const type = line.match(new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`));
    if (type) {
      typed.set(type[1]!, type[2]!);
      continue;
    }
    const sample = line.match(sampleLine);
    if (!sample) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const name = sample[1]!;
    const family = [...typed.keys()].find((f) => name === f || name.startsWith(`${f}_`));
    if (!family) throw new Error(`sample before its TYPE: ${name}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    samples.push({ name, labels, value: Number(sample[3]) });
  }
  return samples;
}

async function scrape(): Promise<Sample[]> {
  const res = await harness.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

/** Scrapes until `ready` holds: the shared gauges are read on a timer, so a change shows a moment later. */
const scrapeUntil = (ready: (samples: Sample[]) => boolean): Promise<Sample[]> =>
  waitFor(async () => {
    const samples = await scrape();
    return ready(samples) ? samples : null;
  });

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

async function postClerk(event: unknown, headers?: Record<string, string>): Promise<Response> {
  const body = JSON.stringify(event);
  return harness.request('/webhooks/clerk', { method: 'POST', headers: headers ?? svixHeaders(TEST_CLERK_SECRET, body), body });
}

it('exports process metrics under their standard names and every auth-relay family as valid Prometheus text', async () => {
  const samples = await scrape();
  const names = new Set(samples.map((s) => s.name));
  // prom-client's default names, not re-prefixed, so stock Node.js dashboards find them.
  expect(names).toContain('process_cpu_seconds_total');
  expect(names).toContain('nodejs_eventloop_lag_seconds');
  expect([...names].filter((n) => n.startsWith('auth_relay_process_') || n.startsWith('auth_relay_nodejs_'))).toEqual([]);
  expect(names).toContain('auth_relay_queue_jobs');
  expect(names).toContain('auth_relay_queue_oldest_waiting_seconds');
  const text = await (await harness.request('/metrics')).text();
  for (const family of [
    'auth_relay_webhooks_received_total',
    'auth_relay_send_attempts_total',
    'auth_relay_send_errors_total',
    'auth_relay_accepted_to_sent_seconds',
    'auth_relay_sent_to_delivered_seconds',
    'auth_relay_message_outcomes_total',
    'auth_relay_bounce_ratio',
    'auth_relay_complaint_ratio',
    'auth_relay_shared_gauges_leader',
    'http_request_duration_seconds',
    'auth_relay_clerk_writebacks_total',
    'auth_relay_provider_circuit',
    'auth_relay_provider_consecutive_failures',
    'auth_relay_provider_paused',
    'auth_relay_provider_skips_total',
  ]) {
    expect(text).toContain(`# TYPE ${family} `);
  }
});

it('counts webhooks, send attempts, errors and latency as traffic flows', async () => {
  const before = await scrape();
  failNext = 1;
  const event = emailCreated();
  const accepted = await postClerk(event);
  expect(accepted.status).toBe(202);
  const { message_id } = (await accepted.json()) as { message_id: string };
  expect((await postClerk(event)).status).toBe(200);
  expect((await postClerk({ type: 'user.created', data: {} })).status).toBe(200);
  expect((await postClerk(emailCreated(), { 'content-type': 'application/json' })).status).toBe(401);

  await waitFor(async () => (await database.db.message.findUniqueOrThrow({ where: { id: message_id } })).status === 'sent');
  const after = await scrape();
  const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);

  expect(delta('auth_relay_webhooks_received_total', { source: 'clerk', outcome: 'accepted' })).toBe(1);
  expect(delta('auth_relay_webhooks_received_total', { source: 'clerk', outcome: 'duplicate' })).toBe(1);
  expect(delta('auth_relay_webhooks_received_total', { source: 'clerk', outcome: 'ignored' })).toBe(1);
  expect(delta('auth_relay_webhooks_received_total', { source: 'clerk', outcome: 'unauthorized' })).toBe(1);
  expect(delta('auth_relay_send_attempts_total', { provider: 'fake', channel: 'email', outcome: 'transient' })).toBe(1);
  expect(delta('auth_relay_send_attempts_total', { provider: 'fake', channel: 'email', outcome: 'sent' })).toBe(1);
  expect(delta('auth_relay_send_errors_total', { provider: 'fake', class: 'transient' })).toBe(1);
  expect(delta('auth_relay_accepted_to_sent_seconds_count', { provider: 'fake' })).toBe(1);
  expect(delta('auth_relay_message_outcomes_total', { status: 'sent', provider: 'fake', channel: 'email' })).toBe(1);
});

it('exports bounce and complaint ratios and queue depth', async () => {
  for (let i = 0; i < 4; i++) {
    await seedMessage(database.db, {
      provider: 'ratesprov',
      status: i === 0 ? 'bounced' : 'delivered',
      sentAt: new Date(),
      // The rates count hard bounces, as the provider events record them.
      events: i === 0 ? [{ type: 'bounced', provider: 'ratesprov', detail: { bounce_kind: 'hard' } }] : [],
    });
  }
  await harness.container.queues.send.add('send', { messageId: 'msg_waiting' }, { jobId: 'msg_waiting', delay: 60_000 });
  const samples = await scrapeUntil(
    (s) => value(s, 'auth_relay_queue_jobs', { queue: 'send', state: 'delayed' }) >= 1 && s.some((x) => x.labels.provider === 'ratesprov'),
  );
  expect(value(samples, 'auth_relay_bounce_ratio', { provider: 'ratesprov' })).toBeCloseTo(0.25);
  expect(value(samples, 'auth_relay_complaint_ratio', { provider: 'ratesprov' })).toBe(0);
  expect(value(samples, 'auth_relay_queue_jobs', { queue: 'send', state: 'delayed' })).toBeGreaterThanOrEqual(1);
});

it('observes sent→delivered and counts Clerk write-backs as provider events arrive', async () => {
  const webhook = async (event: unknown) => {
    const { body, headers } = signedResend(event);
    expect((await harness.request('/webhooks/resend', { method: 'POST', headers, body })).status).toBe(200);
  };
  const delivered = await sentMessage(database.db, { sentAt: new Date(Date.now() - 2_500) });
  await webhook(resendEvent('email.delivered', { email_id: delivered.providerMessageId }));
  const bounced = await sentMessage(database.db);
  await webhook(resendEvent('email.bounced', { email_id: bounced.providerMessageId, bounce: { type: 'Permanent', subType: 'General' } }));

  // No CLERK_SECRET_KEY here: the write-back runs and is counted as skipped.
  await waitFor(() => database.db.messageEvent.findFirst({ where: { messageId: bounced.id, type: 'clerk_writeback' } }));
  const samples = await scrape();
  expect(value(samples, 'auth_relay_message_outcomes_total', { status: 'delivered', provider: 'resend' })).toBe(1);
  expect(value(samples, 'auth_relay_message_outcomes_total', { status: 'bounced', provider: 'resend' })).toBe(1);
  expect(value(samples, 'auth_relay_sent_to_delivered_seconds_count', { provider: 'resend' })).toBe(1);
  expect(value(samples, 'auth_relay_sent_to_delivered_seconds_bucket', { provider: 'resend', le: '1' })).toBe(0);
  expect(value(samples, 'auth_relay_sent_to_delivered_seconds_bucket', { provider: 'resend', le: '5' })).toBe(1);
  expect(value(samples, 'auth_relay_clerk_writebacks_total', { outcome: 'skipped' })).toBe(1);
});

it('exports each provider circuit, its failures in a row and its rate-limit pause', async () => {
  const { config, redis, log } = harness.container;
  const health = createProviderHealth({
    redis,
    prefix: config.QUEUE_PREFIX,
    providers: ['outbox'],
    limits: {},
    failureThreshold: config.PROVIDER_CIRCUIT_FAILURES,
    openMs: 60_000,
    probeLeaseMs: 5_000,
    maxWaitMs: 0,
    maxPauseMs: 60_000,
    log,
  });
  const closed = await scrapeUntil((s) => value(s, 'auth_relay_provider_circuit', { provider: 'outbox', state: 'closed' }) === 1);
  expect(value(closed, 'auth_relay_provider_circuit', { provider: 'outbox', state: 'closed' })).toBe(1);
  expect(value(closed, 'auth_relay_provider_circuit', { provider: 'outbox', state: 'open' })).toBe(0);
  expect(value(closed, 'auth_relay_provider_paused', { provider: 'outbox' })).toBe(0);

  const down = { kind: 'retry' as const, message: '503 unavailable', status: 503, unanswered: false };
  for (let i = 0; i < config.PROVIDER_CIRCUIT_FAILURES; i++)
    await health.call('outbox', () => Promise.resolve(down)).catch(() => undefined);
  const open = await scrapeUntil((s) => value(s, 'auth_relay_provider_circuit', { provider: 'outbox', state: 'open' }) === 1);
  expect(value(open, 'auth_relay_provider_circuit', { provider: 'outbox', state: 'open' })).toBe(1);
  expect(value(open, 'auth_relay_provider_circuit', { provider: 'outbox', state: 'closed' })).toBe(0);
  expect(value(open, 'auth_relay_provider_consecutive_failures', { provider: 'outbox' })).toBe(config.PROVIDER_CIRCUIT_FAILURES);
});

it('counts sends that pass a provider by while its circuit is open', async () => {
  const { config, providerHealth } = harness.container;
  const down = { kind: 'retry' as const, message: '503 unavailable', status: 503, unanswered: false };
  for (let i = 0; i < config.PROVIDER_CIRCUIT_FAILURES; i++)
    await providerHealth.call('fake', () => Promise.resolve(down)).catch(() => undefined);
  const before = await scrape();
  const accepted = await postClerk(emailCreated());
  const { message_id } = (await accepted.json()) as { message_id: string };
  await waitFor(() => database.db.messageEvent.findFirst({ where: { messageId: message_id, type: 'provider_skipped' } }));
  const after = await scrape();
  const labels = { provider: 'fake', channel: 'email', reason: 'circuit_open' };
  expect(value(after, 'auth_relay_provider_skips_total', labels) - value(before, 'auth_relay_provider_skips_total', labels)).toBe(1);
});

it('times HTTP answers by route template and status, never by raw path', async () => {
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const before = await scrape();
  expect((await harness.request('/api/messages/msg_not_there_1', { headers: admin })).status).toBe(404);
  expect((await harness.request('/api/messages/msg_not_there_2', { headers: admin })).status).toBe(404);
  expect((await harness.request('/api/messages')).status).toBe(401);
  expect((await harness.request('/no/such/page/42')).status).toBe(404);
  const after = await scrape();
  const count = (labels: Record<string, string>) =>
    value(after, 'http_request_duration_seconds_count', labels) - value(before, 'http_request_duration_seconds_count', labels);

  expect(count({ method: 'GET', route: '/api/messages/:id', status_code: '404' })).toBe(2);
  expect(count({ method: 'GET', route: '/api/*', status_code: '401' })).toBe(1);
  expect(count({ method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
  // Supabase gives its hook 5 s: that is a bucket edge, so "answered within budget" is one series.
  expect(after.some((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.le === '5')).toBe(true);
  const routes = new Set(after.filter((s) => s.name === 'http_request_duration_seconds_count').map((s) => s.labels.route!));
  expect([...routes].filter((r) => /msg_not_there|no\/such/.test(r))).toEqual([]);
});

it('counts a message the pipeline settles without a provider (suppressed) under provider "none"', async () => {
  const to = 'metrics-suppressed@example.com';
  await harness.container.suppressions.suppress({
    channel: 'email',
    recipient: to,
    reason: 'complaint',
    sourceMessageId: null,
    detail: {},
  });
  const before = await scrape();
  const accepted = await postClerk(emailCreated({ to }));
  const { message_id } = (await accepted.json()) as { message_id: string };
  await waitFor(async () => (await database.db.message.findUniqueOrThrow({ where: { id: message_id } })).status === 'suppressed');
  const after = await scrape();
  const labels = { status: 'suppressed', provider: 'none', channel: 'email' };
  expect(value(after, 'auth_relay_message_outcomes_total', labels) - value(before, 'auth_relay_message_outcomes_total', labels)).toBe(1);
});
