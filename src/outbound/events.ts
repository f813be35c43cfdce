import type { Queue } from 'bullmq';
import type { Db } from '../db/prisma';
import type { AlertEvent } from '../deliverability/alerts';
import { toSuppressionJson, type SuppressionRow } from '../deliverability/suppressions';
import { toMessageJson } from '../delivery/message-log';
import type { MessageChange } from '../delivery/message-store';
import type { MessageStatus } from '../generated/prisma/enums';
import { shortHash } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { outboundJob, type OutboundWebhookJobData } from '../queue/catalog';
import { addJobs } from '../queue/queues';

/**
 * The events auth-relay tells the tenant's own systems about, and the one place they are emitted from: each
 * event is written to Postgres with one delivery per matching enabled endpoint, in one transaction, then
 * queued. A delivery whose job could not be queued (Redis down) is queued again by the sweep
 * (deliveries.ts), so once publish has returned nothing is lost; a crash between the state change's commit
 * and this write loses that one event.
 */

export const OUTBOUND_EVENT_TYPES = [
  'message.received',
  'message.sent',
  'message.delivered',
  'message.delayed',
  'message.bounced',
  'message.complained',
  'message.failed',
  'message.expired',
  'message.suppressed',
  'suppression.created',
  'suppression.released',
  'alert.raised',
  'alert.resolved',
] as const;

export type OutboundEventType = (typeof OUTBOUND_EVENT_TYPES)[number];

const MESSAGE_EVENTS: Partial<Record<MessageStatus, OutboundEventType>> = {
  sent: 'message.sent',
  delivered: 'message.delivered',
  delayed: 'message.delayed',
  bounced: 'message.bounced',
  complained: 'message.complained',
  failed: 'message.failed',
  expired: 'message.expired',
  suppressed: 'message.suppressed',
};

/** The status a timeline event puts a message in, when it is one the tenant hears of. */
const statusOfEvent = (type: string): MessageStatus | null =>
  type === 'delivery_delayed' ? 'delayed' : type in MESSAGE_EVENTS ? (type as MessageStatus) : null;

/**
 * The store reports every timeline event with the status the message has after it. Only the events that
 * put the message in a status become outbound events: `received`, our own `sent`/`failed`/`expired`/
 * `suppressed`, and a provider's report that moved it (a soft bounce after delivery leaves it `delivered`:
 * no `message.bounced`). Attempts, failovers, skips and write-backs are not.
 */
export function eventTypeOfChange(change: MessageChange): OutboundEventType | null {
  if (change.event.type === 'received') return 'message.received';
  const status = statusOfEvent(change.event.type);
  return status !== null && status === change.status ? (MESSAGE_EVENTS[status] ?? null) : null;
}

/** The webhook-id of an event: derived from what it reports, so reporting the same change twice is one event. */
export const eventId = (dedupeKey: string): string => `evt_${shortHash(dedupeKey)}`;
export const deliveryId = (event: string, endpoint: string): string => `whd_${shortHash(`${event}|${endpoint}`)}`;

interface EndpointFilter {
  id: string;
  eventTypes: string[];
}

export interface OutboundPublisherDeps {
  db: Db;
  queue: Queue<OutboundWebhookJobData>;
  log: Logger;
  now?: () => Date;
  /** How long the list of enabled endpoints is reused: another process's change is seen within this. */
  endpointCacheMs?: number;
}

export type OutboundPublisher = ReturnType<typeof createOutboundPublisher>;

export function createOutboundPublisher({ db, queue, log, now = () => new Date(), endpointCacheMs = 5_000 }: OutboundPublisherDeps) {
  let cached: { at: number; endpoints: Promise<EndpointFilter[]> } | null = null;

  /** Enabled endpoints, cached: with none, a state change costs no query at all. */
  function enabledEndpoints(): Promise<EndpointFilter[]> {
    if (!cached || Date.now() - cached.at > endpointCacheMs) {
      const endpoints = db.webhookEndpoint.findMany({ where: { enabled: true }, select: { id: true, eventTypes: true } });
      cached = { at: Date.now(), endpoints };
      // A failed read is not kept: the next event asks again.
      endpoints.catch(() => {
        if (cached?.endpoints === endpoints) cached = null;
      });
    }
    return cached.endpoints;
  }

  async function matching(type: OutboundEventType): Promise<EndpointFilter[]> {
    return (await enabledEndpoints()).filter((e) => e.eventTypes.length === 0 || e.eventTypes.includes(type));
  }

  /**
   * Records the event and its deliveries, then queues them; never throws (a state change must not fail for
   * it). `prepare` gives the event's data and the key that makes it one event however often it is reported.
   */
  async function publish(
    type: OutboundEventType,
    prepare: () => Promise<{ data: unknown; key: string }>,
    createdAt = now(),
  ): Promise<void> {
    try {
      const endpoints = await matching(type);
      if (endpoints.length === 0) return;
      const { data, key } = await prepare();
      const id = eventId(`${type}|${key}`);
      const body = JSON.stringify({ type, created_at: createdAt.toISOString(), data });
      const deliveries = endpoints.map((e) => ({ id: deliveryId(id, e.id), eventId: id, endpointId: e.id, nextAttemptAt: createdAt }));
      await db.$transaction([
        db.webhookEvent.createMany({ data: [{ id, type, body, createdAt }], skipDuplicates: true }),
        db.webhookDelivery.createMany({ data: deliveries, skipDuplicates: true }),
      ]);
      try {
        await addJobs(
          queue,
          deliveries.map((d) => outboundJob(d.id)),
        );
      } catch (err) {
        log.warn({ event_id: id, err: String(err) }, 'could not queue outbound webhooks; the sweep will queue them');
      }
    } catch (err) {
      log.error({ event_type: type, err: String(err) }, 'could not record an outbound event');
    }
  }

  return {
    publish,
    /**
     * The message store's onChange. One event per message, type and send generation (an admin retry may
     * send it again); a delay per report, as each is news.
     */
    async publishMessageChange(change: MessageChange): Promise<void> {
      const type = eventTypeOfChange(change);
      if (!type) return;
      await publish(
        type,
        async () => {
          const message = await db.message.findUniqueOrThrow({ where: { id: change.messageId } });
          const once = type === 'message.delayed' ? change.at.toISOString() : `generation-${message.sendGeneration}`;
          return { data: toMessageJson(message), key: `${change.messageId}|${once}` };
        },
        change.at,
      );
    },
    /** A suppression added (or lengthened), or released; keyed by the entry's created_at, which a renewal moves. */
    async publishSuppression(kind: 'created' | 'released', row: SuppressionRow): Promise<void> {
      await publish(`suppression.${kind}`, async () => ({ data: toSuppressionJson(row), key: `${row.id}|${row.createdAt.toISOString()}` }));
    },
    async publishAlert(alert: AlertEvent): Promise<void> {
      await publish(alert.level === 'ok' ? 'alert.resolved' : 'alert.raised', async () => ({
        data: alert,
        key: `${alert.key}|${alert.level}|${alert.at}`,
      }));
    },
    /** After an endpoint is added, changed or removed here: the next event sees it at once. */
    endpointsChanged(): void {
      cached = null;
    },
  };
}
