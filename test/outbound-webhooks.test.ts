import { Webhook } from 'standardwebhooks';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';
import { startFakeServer, type FakeServer } from './fakes/fake-http-server';
import { startWebhookReceiver, type WebhookReceiver } from './fakes/webhook-receiver';
import { parseConfig } from '../src/config/env';
import { createOutboundDeliveries, type DeliveriesDeps } from '../src/outbound/deliveries';
import { createWebhookEndpoints } from '../src/outbound/endpoints';
import { resolveDestination, type AddressPolicy, type Resolve } from '../src/outbound/address-policy';
import { createOutboundWebhooksWorker } from '../workers/outbound-webhooks-worker';
import { createRedisConnection } from '../src/lib/redis';
import type { Worker } from 'bullmq';

/**
 * Outbound event webhooks against real Postgres and Redis and a local receiver that verifies every request
 * with the `standardwebhooks` package, as a tenant's server would. The retry schedule, the timeout and the
 * disable threshold are shortened through the delivery module's own deps.
 */

let database: TestDatabase;
let harness: Harness;
let slack: FakeServer;
const receivers: WebhookReceiver[] = [];
const running: { worker: Worker; close(): Promise<void> }[] = [];

const DEV: AddressPolicy = { production: false, allowList: { hosts: [], subnets: [] } };
const PROD: AddressPolicy = { production: true, allowList: { hosts: [], subnets: [] } };

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeServer(() => ({ status: 200, body: 'ok' }));
  harness = await startHarness(testConfig(database.url, { ALERT_WEBHOOK_URL: slack.url }));
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
  for (const r of receivers.splice(0)) await r.close();
  await database.db.webhookEndpoint.deleteMany({});
  harness.container.outbound.publisher.endpointsChanged();
});

afterAll(async () => {
  await harness.close();
  await slack.close();
  await database.drop();
});

/** The delivery module with the test's deps, and a worker of its own on the service's outbound queue. */
function startDeliveries(overrides: Partial<DeliveriesDeps> = {}) {
  const c = harness.container;
  const deliveries = createOutboundDeliveries({
    db: c.db,
    queue: c.queues.outboundWebhooks,
    policy: DEV,
    resolve: async () => {
      throw new Error('no name should need resolving');
    },
    alerts: c.alerts,
    publisher: c.outbound.publisher,
    metrics: c.outbound.metrics,
    log: c.log,
    retentionDays: 30,
    schedule: [100, 100, 100],
    timeoutMs: 2_000,
    ...overrides,
  });
  const connection = createRedisConnection(c.config, 'worker');
  const worker = createOutboundWebhooksWorker({ connection, prefix: c.redisKeys.queue('outbound-webhooks'), deliveries, log: c.log });
  running.push({ worker, close: async () => (await worker.close(), connection.disconnect()) });
  return deliveries;
}

async function receiverWithEndpoint(body: { event_types?: string[]; description?: string } = {}) {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const { endpoint, secret } = await harness.container.outbound.endpoints.create({
    url: receiver.url,
    description: body.description,
    eventTypes: body.event_types as never,
  });
  receiver.setSecret(secret);
  return { receiver, endpoint, secret };
}

let n = 0;
const suppressSomeone = () => harness.container.suppressions.suppress({ channel: 'email', recipient: `someone-${++n}-${Date.now()}@example.com`, reason: 'manual' });

const attemptsOf = async (endpointId: string) =>
  (await harness.container.outbound.deliveries.listLog(endpointId, { limit: 50 })).data.flatMap((d) => d.attempts);

it('signs each event per Standard Webhooks: the receiver verifies it with `standardwebhooks`, and the log keeps the first 1 KB of the answer', async () => {
  startDeliveries();
  const { receiver, endpoint } = await receiverWithEndpoint();
  receiver.answer(() => ({ status: 200, body: 'x'.repeat(3000) }));
  const row = await suppressSomeone();

  const [event] = await waitFor(() => (receiver.verified.length > 0 ? receiver.verified : null));
  expect(receiver.rejected).toHaveLength(0);
  expect(event!.type).toBe('suppression.created');
  expect(event!.data).toMatchObject({ id: row.id, recipient: row.recipient, reason: 'manual' });
  expect(Object.keys(JSON.parse(event!.request.body))).toEqual(['type', 'created_at', 'data']);
  expect(event!.id).toMatch(/^evt_/);
  expect(Math.abs(Number(event!.request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(10);
  expect(event!.request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+$/);

  const attempts = await waitFor(async () => ((await attemptsOf(endpoint.id)).length > 0 ? attemptsOf(endpoint.id) : null));
  expect(attempts).toEqual([expect.objectContaining({ outcome: 'succeeded', status_code: 200, trigger: 'scheduled', response: 'x'.repeat(1024) })]);
  expect(attempts[0]!.latency_ms).toBeGreaterThanOrEqual(0);
});

it('retries after a 500 with the same webhook-id, and counts each outcome per endpoint in /metrics', async () => {
  startDeliveries();
  const { receiver, endpoint } = await receiverWithEndpoint();
  receiver.answer((_req, index) => (index === 0 ? { status: 500, body: { error: 'boom' } } : { status: 204 }));
  await suppressSomeone();

  await waitFor(() => receiver.server.requests.length >= 2 || null);
  const [first, second] = receiver.server.requests;
  expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
  const attempts = await waitFor(async () => {
    const a = await attemptsOf(endpoint.id);
    return a.length === 2 ? a : null;
  });
  expect(attempts.map((a) => [a.outcome, a.status_code])).toEqual([
    ['http_error', 500],
    ['succeeded', 204],
  ]);
  expect(attempts[0]!.response).toBe('{"error":"boom"}');
  const metrics = await (await harness.request('/metrics')).text();
  expect(metrics).toContain(`auth_relay_outbound_webhook_attempts_total{endpoint="${endpoint.id}",outcome="http_error"} 1`);
  expect(metrics).toContain(`auth_relay_outbound_webhook_attempts_total{endpoint="${endpoint.id}",outcome="succeeded"} 1`);
});

it('retries after a hang (timed out), while another endpoint gets the same event without waiting for it', async () => {
  startDeliveries({ timeoutMs: 3_000 });
  const hanging = await receiverWithEndpoint({ description: 'hangs once' });
  const healthy = await receiverWithEndpoint({ description: 'healthy' });
  hanging.receiver.answer((_req, index) => (index === 0 ? { status: 200, hang: true } : { status: 200 }));
  const published = Date.now();
  await suppressSomeone();

  await waitFor(() => healthy.receiver.verified.length > 0 || null);
  expect(Date.now() - published).toBeLessThan(2_500);
  await waitFor(() => hanging.receiver.server.requests.length >= 2 || null, { timeoutMs: 10_000 });
  const attempts = await waitFor(async () => {
    const a = await attemptsOf(hanging.endpoint.id);
    return a.length === 2 ? a : null;
  });
  expect(attempts.map((a) => a.outcome)).toEqual(['timeout', 'succeeded']);
  expect(attempts[0]!.latency_ms).toBeGreaterThanOrEqual(2_900);
  expect(hanging.receiver.verified.map((e) => e.id)).toEqual([healthy.receiver.verified[0]!.id, healthy.receiver.verified[0]!.id]);
});

it('gives a delivery up after the schedule, and disables an endpoint failing for longer than the threshold, with an alert', async () => {
  startDeliveries({ schedule: [50, 50], disableAfterMs: 600 });
  const failing = await receiverWithEndpoint({ description: 'always 500' });
  const watcher = await receiverWithEndpoint({ event_types: ['alert.raised'] });
  failing.receiver.answer(() => ({ status: 500 }));

  await suppressSomeone();
  const firstLog = await waitFor(async () => {
    const log = await harness.container.outbound.deliveries.listLog(failing.endpoint.id, { limit: 10 });
    return log.data[0]?.status === 'failed' ? log.data[0] : null;
  });
  expect(firstLog.attempts).toHaveLength(3);
  expect((await harness.container.outbound.endpoints.get(failing.endpoint.id)).enabled).toBe(true);

  await new Promise((r) => setTimeout(r, 700));
  await suppressSomeone();
  const disabled = await waitFor(async () => {
    const e = await harness.container.outbound.endpoints.get(failing.endpoint.id);
    return e.enabled ? null : e;
  });
  expect(disabled.disabledReason).toMatch(/failed for/);
  const alert = await waitFor(() => slack.requests.find((r) => String(r.json?.text).includes(failing.endpoint.id)));
  expect(alert.json.text).toContain('disabled');
  const raised = await waitFor(() => watcher.receiver.verified.find((e) => e.type === 'alert.raised'));
  expect(raised.data).toMatchObject({ key: `webhook_endpoint:${failing.endpoint.id}`, level: 'warn' });

  // Disabled: the next event is not even recorded for it.
  const before = failing.receiver.server.requests.length;
  await suppressSomeone();
  await new Promise((r) => setTimeout(r, 300));
  expect(failing.receiver.server.requests.length).toBe(before);
});

it('rotating the secret signs with the old and the new one for the overlap, then with the new one only', async () => {
  startDeliveries();
  const { receiver, endpoint, secret: oldSecret } = await receiverWithEndpoint();
  const { secret: newSecret, endpoint: rotated } = await harness.container.outbound.endpoints.rotateSecret(endpoint.id);
  expect(newSecret).not.toBe(oldSecret);
  expect(rotated.previousSecretUntil!.getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);

  await suppressSomeone();
  const [event] = await waitFor(() => (receiver.verified.length > 0 ? receiver.verified : null));
  const { headers, body } = event!.request;
  expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
  expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
  expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();

  await database.db.webhookEndpoint.update({ where: { id: endpoint.id }, data: { previousSecretUntil: new Date(Date.now() - 1000) } });
  receiver.setSecret(newSecret);
  await suppressSomeone();
  const second = await waitFor(() => receiver.verified[1]);
  expect(second.request.headers['webhook-signature']!.split(' ')).toHaveLength(1);
  expect(() => new Webhook(oldSecret).verify(second.request.body, second.request.headers)).toThrow();
});

describe('SSRF', () => {
  const publicAddress = [{ address: '93.184.216.34', family: 4 as const }];

  async function refusedAttempt(url: string, resolve: Resolve) {
    const deliveries = startDeliveries({ policy: PROD, resolve });
    const endpoint = await database.db.webhookEndpoint.create({ data: { id: `ep_ssrf${++n}`, url, secret: 'whsec_' + Buffer.from('k'.repeat(24)).toString('base64') } });
    harness.container.outbound.publisher.endpointsChanged();
    await suppressSomeone();
    const log = await waitFor(async () => {
      const l = await deliveries.listLog(endpoint.id, { limit: 5 });
      return l.data[0]?.attempts.length ? l.data[0] : null;
    });
    return log.attempts[0]!;
  }

  it.each([
    ['loopback', 'https://127.0.0.1/hooks', publicAddress, /not a public address/],
    ['a private address', 'https://hooks.example.com/', [{ address: '10.1.2.3', family: 4 as const }], /10\.1\.2\.3, which is not a public address/],
    ['an IPv4-mapped private address', 'https://hooks.example.com/', [{ address: '::ffff:192.168.0.7', family: 6 as const }], /192\.168\.0\.7/],
    ['link-local IPv6', 'https://hooks.example.com/', [{ address: 'fe80::1', family: 6 as const }], /not a public address/],
    ['the metadata address', 'https://hooks.example.com/', [{ address: '169.254.169.254', family: 4 as const }], /metadata/],
    ['a mix of public and private answers', 'https://hooks.example.com/', [...publicAddress, { address: '172.20.0.1', family: 4 as const }], /172\.20\.0\.1/],
  ])('refuses at send time in production: %s', async (_name, url, addresses, reason) => {
    const attempt = await refusedAttempt(url, async () => addresses);
    expect(attempt).toMatchObject({ outcome: 'refused', status_code: null });
    expect(attempt.error).toMatch(reason);
  });

  it('refuses a name that resolved to a public address at creation and to loopback at send time (DNS rebinding)', async () => {
    let answer = publicAddress;
    const resolve: Resolve = async () => answer;
    const endpoints = createWebhookEndpoints({ db: database.db, policy: PROD, resolve, publisher: harness.container.outbound.publisher, log: harness.container.log });
    const { endpoint } = await endpoints.create({ url: 'https://rebind.example.com/hooks' });
    answer = [{ address: '127.0.0.1', family: 4 }];
    const deliveries = startDeliveries({ policy: PROD, resolve });
    await suppressSomeone();
    const log = await waitFor(async () => {
      const l = await deliveries.listLog(endpoint.id, { limit: 5 });
      return l.data[0]?.attempts.length ? l.data[0] : null;
    });
    expect(log.attempts[0]).toMatchObject({ outcome: 'refused' });
    expect(log.attempts[0]!.error).toMatch(/127\.0\.0\.1/);
  });

  it('refuses at creation in production: http, and names resolving to private addresses', async () => {
    const endpoints = createWebhookEndpoints({
      db: database.db,
      policy: PROD,
      resolve: async () => [{ address: '192.168.1.10', family: 4 }],
      publisher: harness.container.outbound.publisher,
      log: harness.container.log,
    });
    await expect(endpoints.create({ url: 'http://hooks.example.com/' })).rejects.toMatchObject({ status: 422, message: expect.stringMatching(/https/) });
    await expect(endpoints.create({ url: 'https://hooks.example.com/' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/OUTBOUND_WEBHOOK_ALLOWED_HOSTS/),
    });
  });

  it('connects to the address it checked, keeping the URL host in the Host header', async () => {
    const lookups: string[] = [];
    startDeliveries({
      resolve: async (host) => {
        lookups.push(host);
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const receiver = await startWebhookReceiver();
    receivers.push(receiver);
    const port = new URL(receiver.url).port;
    const { secret } = await harness.container.outbound.endpoints.create({ url: `http://pinned.localhost:${port}/hooks` });
    receiver.setSecret(secret);
    await suppressSomeone();
    const [event] = await waitFor(() => (receiver.verified.length > 0 ? receiver.verified : null));
    expect(event!.request.headers.host).toBe(`pinned.localhost:${port}`);
    expect(lookups).toEqual(['pinned.localhost']);
  });

  it('lets OUTBOUND_WEBHOOK_ALLOWED_HOSTS admit a named host or a subnet, and refuses a malformed entry naming the variable', async () => {
    const { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: allowList } = parseConfig({ OUTBOUND_WEBHOOK_ALLOWED_HOSTS: 'hooks.internal, 10.0.5.0/24' });
    expect(allowList).toEqual({ hosts: ['hooks.internal'], subnets: [{ address: '10.0.5.0', prefix: 24, family: 'ipv4' }] });
    const policy: AddressPolicy = { production: true, allowList };
    const private10 = async () => [{ address: '10.9.9.9', family: 4 as const }];
    await expect(resolveDestination(new URL('https://hooks.internal/'), policy, private10)).resolves.toEqual({ address: '10.9.9.9', family: 4 });
    await expect(resolveDestination(new URL('https://other.internal/'), policy, private10)).rejects.toThrow(/not a public address/);
    await expect(resolveDestination(new URL('https://other.internal/'), policy, async () => [{ address: '10.0.5.20', family: 4 }])).resolves.toBeDefined();
    expect(() => parseConfig({ OUTBOUND_WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/99' })).toThrow(/OUTBOUND_WEBHOOK_ALLOWED_HOSTS/);
  });
});
