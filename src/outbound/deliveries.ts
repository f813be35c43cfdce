import type { Queue } from 'bullmq';
import { readSnapshot, type Db } from '../db/prisma';
import type { Alerts } from '../deliverability/alerts';
import type { Prisma } from '../generated/prisma/client';
import { decodeCursor, encodeCursor } from '../lib/cursor';
import { ConflictError, NotFoundError, viaRedis } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { outboundJob, outboundResendJob, type OutboundWebhookJobData } from '../queue/catalog';
import { requeueJob } from '../queue/queues';
import { checkUrl, RefusedDestinationError, resolveDestination, type AddressPolicy, type Resolve } from './address-policy';
import type { EndpointRow } from './endpoints';
import type { OutboundPublisher } from './events';
import type { OutboundMetrics } from './outbound-metrics';
import { postEvent, type SendResult } from './sender';
import { signedHeaders } from './signing';

/**
 * Delivering each (event, endpoint), like Svix: a 2xx within 15 s is success; otherwise the delivery is tried
 * again after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (10 % jitter), then given up. A 429 or 503
 * with Retry-After is not tried again sooner than it asks (up to the schedule's 10 h). An endpoint whose
 * attempts have all failed for 5 days, or that answers 410 Gone, is disabled and an alert raised. Every attempt is logged with its
 * status code, latency and the first 1 KB of the answer. Order between events is not kept.
 */

export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
export const DISABLE_AFTER_MS = 5 * 86_400_000;
export const ATTEMPT_TIMEOUT_MS = 15_000;
/**
 * The longest an endpoint's Retry-After may hold its delivery, the schedule's longest step: one bad header must
 * not park it for days.
 */
export const MAX_RETRY_AFTER_MS = Math.max(...RETRY_SCHEDULE_MS);
/** A pending delivery this far past its due time has lost its job (Redis down at publish, data lost). */
const LOST_AFTER_MS = 60_000;

export type AttemptJob = Extract<OutboundWebhookJobData, { deliveryId: string }>;
export type AttemptOutcomeKind = { kind: 'done'; status: string } | { kind: 'retry'; delayMs: number };

export interface DeliveriesDeps {
  db: Db;
  queue: Queue<OutboundWebhookJobData>;
  policy: AddressPolicy;
  resolve: Resolve;
  alerts: Pick<Alerts, 'raise'>;
  publisher: Pick<OutboundPublisher, 'endpointsChanged'>;
  metrics: OutboundMetrics;
  log: Logger;
  retentionDays: number;
  now?: () => Date;
  /** Tests shorten these three. */
  schedule?: number[];
  disableAfterMs?: number;
  timeoutMs?: number;
}

export type OutboundDeliveries = ReturnType<typeof createOutboundDeliveries>;

/** The deps with every default filled in, passed to each step below. */
type DeliveryContext = Required<DeliveriesDeps>;

type AttemptRow = Prisma.WebhookAttemptGetPayload<object>;

const attemptJson = (a: AttemptRow) => ({
  attempted_at: a.attemptedAt.toISOString(),
  trigger: a.trigger,
  outcome: a.outcome,
  status_code: a.statusCode,
  latency_ms: a.latencyMs,
  response: a.response,
  error: a.error,
});

const liveSecrets = (e: EndpointRow, at: Date): string[] =>
  e.previousSecret && e.previousSecretUntil && e.previousSecretUntil > at ? [e.secret, e.previousSecret] : [e.secret];

async function send(ctx: DeliveryContext, endpoint: EndpointRow, eventId: string, body: string): Promise<SendResult> {
  const { policy, resolve, timeoutMs } = ctx;
  const started = ctx.now();
  try {
    const url = checkUrl(endpoint.url, policy);
    const address = await resolveDestination(url, policy, resolve);
    const headers = signedHeaders(liveSecrets(endpoint, started), eventId, Math.floor(started.getTime() / 1000), body);
    return await postEvent({ url, address, headers, body, timeoutMs });
  } catch (err) {
    if (!(err instanceof RefusedDestinationError)) throw err;
    return { outcome: 'refused', statusCode: null, latencyMs: 0, response: null, error: err.message };
  }
}

/** Disabled once (the update is conditional), and said so. */
async function disable(ctx: DeliveryContext, endpoint: EndpointRow, reason: string): Promise<void> {
  const { db, publisher, log, alerts } = ctx;
  const { count } = await db.webhookEndpoint.updateMany({
    where: { id: endpoint.id, enabled: true },
    data: { enabled: false, disabledReason: reason },
  });
  if (count === 0) return;
  publisher.endpointsChanged();
  log.warn({ endpoint_id: endpoint.id, reason }, 'webhook endpoint disabled');
  await alerts.raise({
    key: `webhook_endpoint:${endpoint.id}`,
    text: `:warning: auth-relay: webhook endpoint ${endpoint.id} (${endpoint.description || new URL(endpoint.url).host}) was disabled: ${reason}. Fix it and enable it again in the dashboard.`,
  });
}

/** 410 Gone asks for it (Standard Webhooks); otherwise five days of nothing but failures. */
async function disableIfFailing(ctx: DeliveryContext, endpoint: EndpointRow, result: SendResult, at: Date): Promise<void> {
  const { disableAfterMs } = ctx;
  if (result.statusCode === 410) return disable(ctx, endpoint, 'the endpoint answered 410 Gone');
  const since = endpoint.failingSince ?? at;
  if (at.getTime() - since.getTime() < disableAfterMs) return;
  await disable(ctx, endpoint, `every attempt failed for ${Math.round((disableAfterMs / 86_400_000) * 10) / 10} days`);
}

/** One attempt of a delivery; says whether to try again, and when. */
async function attempt(ctx: DeliveryContext, job: AttemptJob): Promise<AttemptOutcomeKind> {
  const { db, metrics, log, schedule } = ctx;
  const delivery = await db.webhookDelivery.findUnique({ where: { id: job.deliveryId }, include: { event: true, endpoint: true } });
  if (!delivery) return { kind: 'done', status: 'missing' };
  if (job.trigger === 'scheduled' && delivery.status !== 'pending') return { kind: 'done', status: delivery.status };
  const { endpoint, event } = delivery;
  if (!endpoint.enabled) {
    if (delivery.status === 'pending')
      await db.webhookDelivery.update({ where: { id: delivery.id }, data: { status: 'failed', nextAttemptAt: null } });
    return { kind: 'done', status: 'endpoint_disabled' };
  }

  const at = ctx.now();
  const result = await send(ctx, endpoint, event.id, event.body);
  metrics.attempt(endpoint.id, result.outcome, result.latencyMs);
  const ok = result.outcome === 'succeeded';
  // A resend is one attempt outside the schedule: it counts in the log only, and its failure leaves the schedule as it was.
  const scheduled = job.trigger === 'scheduled';
  const attempts = scheduled ? delivery.attempts + 1 : delivery.attempts;
  const retryIn = !ok && scheduled ? schedule[attempts - 1] : undefined;
  const delayMs =
    retryIn === undefined
      ? undefined
      : Math.max(Math.round(retryIn * (1 + Math.random() * 0.1)), Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
  const next = ok
    ? { status: 'succeeded', nextAttemptAt: null }
    : !scheduled
      ? { status: delivery.status, nextAttemptAt: delivery.nextAttemptAt }
      : delayMs !== undefined
        ? { status: 'pending', nextAttemptAt: new Date(at.getTime() + delayMs) }
        : { status: 'failed', nextAttemptAt: null };
  await db.$transaction([
    db.webhookAttempt.create({
      data: {
        deliveryId: delivery.id,
        attemptedAt: at,
        trigger: job.trigger,
        outcome: result.outcome,
        statusCode: result.statusCode,
        latencyMs: result.latencyMs,
        response: result.response,
        error: result.error,
      },
    }),
    db.webhookDelivery.update({
      where: { id: delivery.id },
      data: { attempts, ...next },
    }),
    ok
      ? db.webhookEndpoint.updateMany({ where: { id: endpoint.id, failingSince: { not: null } }, data: { failingSince: null } })
      : db.webhookEndpoint.updateMany({ where: { id: endpoint.id, failingSince: null }, data: { failingSince: at } }),
  ]);
  log[ok ? 'debug' : 'info'](
    {
      endpoint_id: endpoint.id,
      event_id: event.id,
      event_type: event.type,
      outcome: result.outcome,
      status_code: result.statusCode,
      attempt: attempts,
    },
    'outbound webhook attempt',
  );
  if (!ok) await disableIfFailing(ctx, endpoint, result, at);
  return delayMs === undefined ? { kind: 'done', status: next.status } : { kind: 'retry', delayMs };
}

/** The dashboard's and API's "resend": one attempt now, the same event and webhook-id, outside the schedule. */
async function resend({ db, queue }: DeliveryContext, endpointId: string, id: string): Promise<void> {
  const delivery = await db.webhookDelivery.findFirst({
    where: { id, endpointId },
    include: { endpoint: { select: { enabled: true } } },
  });
  if (!delivery) throw new NotFoundError(`No delivery ${id} to webhook endpoint ${endpointId}`);
  if (!delivery.endpoint.enabled) throw new ConflictError('The endpoint is disabled; enable it before resending', 'endpoint_disabled');
  const job = outboundResendJob(id, new Date());
  await viaRedis(() => queue.add(job.name, job.data, job.opts));
}

/** The endpoint's deliveries, newest first, each with its attempts (oldest first), as of one moment. */
async function listLog({ db }: DeliveryContext, endpointId: string, query: { limit: number; cursor?: string }) {
  const c = query.cursor ? decodeCursor(query.cursor) : null;
  const rows = await readSnapshot(db, (tx) =>
    tx.webhookDelivery.findMany({
      where: { endpointId, ...(c ? { OR: [{ createdAt: { lt: c.at } }, { createdAt: c.at, id: { lt: c.id } }] } : {}) },
      include: { event: { select: { type: true } }, attemptLog: { orderBy: { attemptedAt: 'asc' } } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit + 1,
    }),
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((d) => ({
      id: d.id,
      event_id: d.eventId,
      event_type: d.event.type,
      status: d.status,
      attempts: d.attemptLog.map(attemptJson),
      next_attempt_at: d.nextAttemptAt ? d.nextAttemptAt.toISOString() : null,
      created_at: d.createdAt.toISOString(),
    })),
    next_cursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

/** Re-queues deliveries whose job was lost, and drops events older than RETENTION_DAYS with their logs. */
async function sweep(ctx: DeliveryContext, batch = 500): Promise<{ requeued: number; pruned: number }> {
  const { db, queue, log } = ctx;
  const at = ctx.now();
  const lost = await db.webhookDelivery.findMany({
    where: { status: 'pending', nextAttemptAt: { lt: new Date(at.getTime() - LOST_AFTER_MS) } },
    select: { id: true },
    take: batch,
  });
  let requeued = 0;
  for (const { id } of lost) {
    const job = outboundJob(id);
    if ((await requeueJob(queue, id, () => queue.add(job.name, job.data, job.opts))) !== 'alive') requeued++;
  }
  const cutoff = new Date(at.getTime() - ctx.retentionDays * 86_400_000);
  const pruned =
    await db.$executeRaw`DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events WHERE created_at < ${cutoff} LIMIT ${batch})`;
  if (requeued > 0 || pruned > 0) log.info({ requeued, pruned }, 'outbound webhooks swept');
  return { requeued, pruned };
}

export function createOutboundDeliveries(deps: DeliveriesDeps) {
  const ctx: DeliveryContext = {
    ...deps,
    now: deps.now ?? (() => new Date()),
    schedule: deps.schedule ?? RETRY_SCHEDULE_MS,
    disableAfterMs: deps.disableAfterMs ?? DISABLE_AFTER_MS,
    timeoutMs: deps.timeoutMs ?? ATTEMPT_TIMEOUT_MS,
  };
  return {
    attempt: (job: AttemptJob) => attempt(ctx, job),
    resend: (endpointId: string, id: string) => resend(ctx, endpointId, id),
    listLog: (endpointId: string, query: { limit: number; cursor?: string }) => listLog(ctx, endpointId, query),
    sweep: (batch?: number) => sweep(ctx, batch),
  };
}
