import { Webhook } from 'standardwebhooks';
import { seedMessages } from './helpers/seed';
import { useOutboundFixture } from './helpers/outbound';
import { readsBesideWrites } from './helpers/reads-beside-writes';
import { waitFor } from './helpers/wait';
import type { MessageChange } from '../src/delivery/message-store';
import { MAX_RETRY_AFTER_MS } from '../src/outbound/deliveries';
import { eventTypeOfChange } from '../src/outbound/events';

/**
 * Outbound event webhooks against real Postgres and Redis and a local receiver that verifies every request
 * with the `standardwebhooks` package, as a tenant's server would. The retry schedule, the timeout and the
 * disable threshold are shortened through the delivery module's own deps.
 */

const { fixture, startDeliveries, receiverWithEndpoint, suppressSomeone } = useOutboundFixture();

const attemptsOf = async (endpointId: string) =>
  (await fixture.harness.container.outbound.deliveries.listLog(endpointId, { limit: 50 })).data.flatMap((d) => d.attempts);

const newestDelivery = async (endpointId: string) =>
  (await fixture.harness.container.outbound.deliveries.listLog(endpointId, { limit: 1 })).data[0];

/** The endpoint's newest delivery once its first attempt is logged. */
const deliveryAfterFirstAttempt = (endpointId: string) =>
  waitFor(async () => {
    const delivery = await newestDelivery(endpointId);
    return delivery?.attempts.length === 1 ? delivery : null;
  });

it.each([
  ['received', 'queued', 'message.received'],
  ['queued', 'sending', null],
  ['send_failed', 'sending', null],
  ['sent', 'sent', 'message.sent'],
  ['delivered', 'delivered', 'message.delivered'],
  ['delivery_delayed', 'delayed', 'message.delayed'],
  ['bounced', 'bounced', 'message.bounced'],
  ['bounced', 'delivered', null],
  ['sent', 'delivered', null],
  ['complained', 'complained', 'message.complained'],
  ['expired', 'expired', 'message.expired'],
  ['suppressed', 'suppressed', 'message.suppressed'],
  ['failed', 'failed', 'message.failed'],
  ['retried', 'queued', null],
  ['clerk_writeback', 'bounced', null],
])('a %s event leaving the message %s is %s', (type, status, expected) => {
  const change = { messageId: 'msg_1', status, event: { type, detail: {} }, at: new Date() } as unknown as MessageChange;
  expect(eventTypeOfChange(change)).toBe(expected);
});

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
  expect(attempts).toEqual([
    expect.objectContaining({ outcome: 'succeeded', status_code: 200, trigger: 'scheduled', response: 'x'.repeat(1024) }),
  ]);
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
  const metrics = await (await fixture.harness.request('/metrics')).text();
  expect(metrics).toContain(`auth_relay_outbound_webhook_attempts_total{endpoint="${endpoint.id}",outcome="http_error"} 1`);
  expect(metrics).toContain(`auth_relay_outbound_webhook_attempts_total{endpoint="${endpoint.id}",outcome="succeeded"} 1`);
});

it.each([
  [429, '2'],
  [503, 'date'],
])('after a %i with Retry-After, the next attempt waits as long as the endpoint asked, not the shorter schedule', async (status, given) => {
  startDeliveries();
  const { receiver, endpoint } = await receiverWithEndpoint();
  receiver.answer((_req, index) =>
    index === 0
      ? { status, headers: { 'retry-after': given === 'date' ? new Date(Date.now() + 3_000).toUTCString() : given } }
      : { status: 204 },
  );
  await suppressSomeone();

  await waitFor(() => receiver.server.requests.length >= 1 || null);
  const pending = await deliveryAfterFirstAttempt(endpoint.id);
  expect(pending.status).toBe('pending');
  const [first] = receiver.server.requests;
  // Two seconds either way: an HTTP date 3 s ahead has whole seconds, so it is 2 to 3 s ahead.
  expect(Date.parse(pending.next_attempt_at!) - first!.receivedAt).toBeGreaterThanOrEqual(1_900);
  await waitFor(() => receiver.server.requests.length >= 2 || null, { timeoutMs: 6_000 });
  const second = receiver.server.requests[1]!;
  expect(second.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(1_900);
  expect(second.headers['webhook-id']).toBe(first!.headers['webhook-id']);
});

it('lists each delivery as of one moment with its attempts, however fast attempts are written beside the read', async () => {
  const { db } = fixture.database;
  const { endpoint } = await receiverWithEndpoint();
  const event = await db.webhookEvent.create({ data: { id: 'evt_skew', type: 'suppression.created', body: '{}' } });
  const delivery = await db.webhookDelivery.create({ data: { id: 'whd_skew', eventId: event.id, endpointId: endpoint.id } });
  // As `attempt` records one: the attempt and the delivery's next_attempt_at (1 s after it) in one transaction.
  const write = (n: number) => {
    const at = new Date(Date.UTC(2026, 0, 1) + n * 1000);
    return db.$transaction([
      db.webhookAttempt.create({
        data: { deliveryId: delivery.id, attemptedAt: at, trigger: 'scheduled', outcome: 'http_error', latencyMs: 1 },
      }),
      db.webhookDelivery.update({ where: { id: delivery.id }, data: { attempts: n, nextAttemptAt: new Date(at.getTime() + 1000) } }),
    ]);
  };
  const read = async () => {
    const listed = (await newestDelivery(endpoint.id))!;
    const last = listed.attempts.at(-1);
    return last && Date.parse(listed.next_attempt_at!) !== Date.parse(last.attempted_at) + 1000
      ? `${listed.attempts.length} attempts, the last at ${last.attempted_at}, next_attempt_at ${listed.next_attempt_at}`
      : null;
  };
  const mismatches = await readsBesideWrites(write, read, 150);
  expect(mismatches).toEqual([]);
});

it('holds a delivery no longer than 10 h however long a Retry-After asks', async () => {
  startDeliveries();
  const { receiver, endpoint } = await receiverWithEndpoint();
  receiver.answer(() => ({ status: 429, headers: { 'retry-after': String(30 * 86_400) } }));
  await suppressSomeone();

  const pending = await deliveryAfterFirstAttempt(endpoint.id);
  const wait = Date.parse(pending.next_attempt_at!) - Date.parse(pending.attempts[0]!.attempted_at);
  expect(wait).toBe(MAX_RETRY_AFTER_MS);
  expect(MAX_RETRY_AFTER_MS).toBe(10 * 3_600_000);
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
  startDeliveries({ schedule: [50, 50], disableAfterMs: 1_500 });
  const failing = await receiverWithEndpoint({ description: 'always 500' });
  const watcher = await receiverWithEndpoint({ event_types: ['alert.raised'] });
  failing.receiver.answer(() => ({ status: 500 }));

  await suppressSomeone();
  const firstLog = await waitFor(async () => {
    const log = await fixture.harness.container.outbound.deliveries.listLog(failing.endpoint.id, { limit: 10 });
    return log.data[0]?.status === 'failed' ? log.data[0] : null;
  });
  expect(firstLog.attempts).toHaveLength(3);
  expect((await fixture.harness.container.outbound.endpoints.get(failing.endpoint.id)).enabled).toBe(true);

  await new Promise((r) => setTimeout(r, 1_600));
  await suppressSomeone();
  const disabled = await waitFor(async () => {
    const e = await fixture.harness.container.outbound.endpoints.get(failing.endpoint.id);
    return e.enabled ? null : e;
  });
  expect(disabled.disabledReason).toMatch(/failed for/);
  const alert = await waitFor(() => fixture.slack.requests.find((r) => String(r.json?.text).includes(failing.endpoint.id)));
  expect(alert.json.text).toContain('disabled');
  const raised = await waitFor(() => watcher.receiver.verified.find((e) => e.type === 'alert.raised'));
  expect(raised.data).toMatchObject({ key: `webhook_endpoint:${failing.endpoint.id}`, level: 'warn' });

  // Disabled: the next event is not even recorded for it.
  const before = failing.receiver.server.requests.length;
  await suppressSomeone();
  await new Promise((r) => setTimeout(r, 300));
  expect(failing.receiver.server.requests.length).toBe(before);
});

it('disables an endpoint that answers 410 Gone at once, as Standard Webhooks asks', async () => {
  startDeliveries();
  const { receiver, endpoint } = await receiverWithEndpoint();
  receiver.answer(() => ({ status: 410 }));
  await suppressSomeone();
  const disabled = await waitFor(async () => {
    const e = await fixture.harness.container.outbound.endpoints.get(endpoint.id);
    return e.enabled ? null : e;
  });
  expect(disabled.disabledReason).toBe('the endpoint answered 410 Gone');
  await new Promise((r) => setTimeout(r, 400));
  expect(receiver.server.requests).toHaveLength(1);
});

it('a delivery whose job was lost (Redis down at publish, data lost) is queued again by the sweep; old events are pruned', async () => {
  const { receiver, endpoint } = await receiverWithEndpoint();
  await suppressSomeone();
  const db = fixture.database.db;
  const delivery = await waitFor(() => db.webhookDelivery.findFirst({ where: { endpointId: endpoint.id } }));
  const queue = fixture.harness.container.queues.outboundWebhooks;
  await queue.remove(delivery.id);
  expect(await queue.getJob(delivery.id)).toBeUndefined();
  await db.webhookDelivery.update({ where: { id: delivery.id }, data: { nextAttemptAt: new Date(Date.now() - 120_000) } });
  const old = await db.webhookEvent.create({
    data: { id: 'evt_old', type: 'alert.raised', body: '{}', createdAt: new Date(Date.now() - 31 * 86_400_000) },
  });

  const deliveries = startDeliveries();
  expect(await deliveries.sweep()).toEqual({ requeued: 1, pruned: 1 });
  const [event] = await waitFor(() => (receiver.verified.length > 0 ? receiver.verified : null));
  expect(event!.id).toBe(delivery.eventId);
  expect(await db.webhookEvent.findUnique({ where: { id: old.id } })).toBeNull();
  await waitFor(async () => (await db.webhookDelivery.findUniqueOrThrow({ where: { id: delivery.id } })).status === 'succeeded' || null);
  expect(await deliveries.sweep()).toEqual({ requeued: 0, pruned: 0 });
});

it('rotating the secret signs with the old and the new one for the overlap, then with the new one only', async () => {
  startDeliveries();
  const { receiver, endpoint, secret: oldSecret } = await receiverWithEndpoint();
  const { secret: newSecret, endpoint: rotated } = await fixture.harness.container.outbound.endpoints.rotateSecret(endpoint.id);
  expect(newSecret).not.toBe(oldSecret);
  expect(rotated.previousSecretUntil!.getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);

  await suppressSomeone();
  const [event] = await waitFor(() => (receiver.verified.length > 0 ? receiver.verified : null));
  const { headers, body } = event!.request;
  expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
  expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
  expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();

  await fixture.database.db.webhookEndpoint.update({
    where: { id: endpoint.id },
    data: { previousSecretUntil: new Date(Date.now() - 1000) },
  });
  receiver.setSecret(newSecret);
  await suppressSomeone();
  const second = await waitFor(() => receiver.verified[1]);
  expect(second.request.headers['webhook-signature']!.split(' ')).toHaveLength(1);
  expect(() => new Webhook(oldSecret).verify(second.request.body, second.request.headers)).toThrow();
});

it('publishes suppression.released, and alert.raised then alert.resolved as the bounce rate crosses and recovers', async () => {
  startDeliveries();
  const { receiver } = await receiverWithEndpoint({ event_types: ['suppression.released', 'alert.raised', 'alert.resolved'] });
  const row = await suppressSomeone();
  await fixture.harness.container.suppressions.release({ id: row.id });
  const released = await waitFor(() => receiver.verified.find((e) => e.type === 'suppression.released'));
  expect(released.data).toMatchObject({ id: row.id, recipient: row.recipient });

  await seedMessages(fixture.database.db, { count: 95, outcome: 'delivered', domain: 'alerts.example' });
  await seedMessages(fixture.database.db, { count: 5, outcome: 'hard_bounce', domain: 'alerts.example' });
  await fixture.harness.container.alerts.evaluate();
  const raised = await waitFor(() => receiver.verified.find((e) => e.type === 'alert.raised' && e.data.key === 'bounce:all'));
  expect(raised.data).toMatchObject({ level: 'page', previous_level: 'ok', value: 0.05 });
  expect(raised.data.text).toMatch(/bounce rate overall crossed 4%/);

  await seedMessages(fixture.database.db, { count: 400, outcome: 'delivered', domain: 'alerts.example' });
  await fixture.harness.container.alerts.evaluate();
  const resolved = await waitFor(() => receiver.verified.find((e) => e.type === 'alert.resolved' && e.data.key === 'bounce:all'));
  expect(resolved.data).toMatchObject({ level: 'ok', previous_level: 'page' });
  expect(receiver.verified.filter((e) => e.type === 'alert.raised' && e.data.key === 'bounce:all')).toHaveLength(1);
});
