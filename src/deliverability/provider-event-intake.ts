import { isStorableDate, MAX_KEY_CHARS, toStorable } from '../db/storable';
import type { Db } from '../db/prisma';
import { DependencyUnavailableError } from '../lib/errors';
import { newId, shortHash } from '../lib/ids';
import type { Logger } from '../lib/logger';
import type { BounceDetail, ProviderWebhookEvent } from '../providers/types';
import { enqueueProviderEvent, providerEventJobId, type Queues } from '../queue/catalog';
import { requeueJob } from '../queue/queues';

/**
 * The first step of a provider event: on the webhook request, the verified event is stored once (per provider
 * event id) and queued for `apply` (provider-events.ts). Nothing heavy before the 2xx.
 */

/** An unprocessed event older than this has lost its job (Redis was down, retries ran out): queue it again. */
const STALE_AFTER_MS = 60_000;

/** What of the provider's event is kept with it for `apply`. */
export interface StoredEvent {
  provider_type: string;
  message_id: string | null;
  recipient: string | null;
  bounce: BounceDetail | null;
  detail: Record<string, unknown>;
  raw: unknown;
}

/**
 * A provider retries what it cannot deliver, so an event Postgres would refuse must still be recorded: text it
 * cannot hold becomes U+FFFD, an id too long for its index is kept as its hash (the event id, still the same
 * on every retry) or not at all (a provider message id that long is none we stored), a time it cannot hold is
 * the time of receipt. The raw body keeps what was sent.
 */
function storableEvent(received: ProviderWebhookEvent, receivedAt: Date): ProviderWebhookEvent {
  const event = toStorable(received);
  return {
    ...event,
    eventId: event.eventId.length > MAX_KEY_CHARS ? `sha256:${shortHash(event.eventId)}` : event.eventId,
    providerMessageId: event.providerMessageId && event.providerMessageId.length > MAX_KEY_CHARS ? null : event.providerMessageId,
    occurredAt: isStorableDate(event.occurredAt) ? event.occurredAt : receivedAt,
  };
}

export interface ProviderEventIntakeDeps {
  db: Db;
  queues: Pick<Queues, 'providerEvents'>;
  log: Logger;
  now: () => Date;
}

export function createProviderEventIntake({ db, queues, log, now }: ProviderEventIntakeDeps) {
  async function enqueue(id: string): Promise<void> {
    await enqueueProviderEvent(queues, id);
  }

  /** Stores the verified event (once per provider event id) and queues it. Answers before any heavy work. */
  async function receive(received: ProviderWebhookEvent): Promise<{ id: string; duplicate: boolean }> {
    const event = storableEvent(received, now());
    const stored: StoredEvent = {
      provider_type: event.providerType,
      message_id: event.messageId,
      recipient: event.recipient,
      bounce: event.bounce ?? null,
      detail: event.detail,
      raw: event.raw,
    };
    const ignored = event.type === 'unknown';
    const id = newId('pev');
    let inserted: number;
    try {
      ({ count: inserted } = await db.providerEvent.createMany({
        data: [
          {
            id,
            provider: event.provider,
            eventId: event.eventId,
            type: event.type,
            providerMessageId: event.providerMessageId,
            occurredAt: event.occurredAt,
            payload: stored as never,
            // An event type we do not act on is kept for the record and needs no job.
            ...(ignored ? { processedAt: now(), outcome: 'ignored' } : {}),
          },
        ],
        skipDuplicates: true,
      }));
    } catch (err) {
      throw new DependencyUnavailableError('Database unavailable; retry later', err);
    }
    const row =
      inserted === 1
        ? { id, processedAt: ignored ? now() : null }
        : await db.providerEvent.findUniqueOrThrow({
            where: { provider_eventId: { provider: event.provider, eventId: event.eventId } },
            select: { id: true, processedAt: true },
          });
    // A repeat of an event not yet applied (its first delivery may have been answered 503) is queued again.
    if (!row.processedAt) {
      try {
        await enqueue(row.id);
      } catch (err) {
        log.warn({ provider_event_id: row.id, err: String(err) }, 'could not queue provider event; maintenance will retry');
        throw new DependencyUnavailableError('Queue unavailable; the event is recorded, retry later', err);
      }
    }
    return { id: row.id, duplicate: inserted === 0 };
  }

  /** Queues again every stored event still waiting after its job gave up or was lost. */
  async function requeueStale(): Promise<number> {
    const stale = await db.providerEvent.findMany({
      where: { processedAt: null, receivedAt: { lt: new Date(now().getTime() - STALE_AFTER_MS) } },
      select: { id: true },
      orderBy: { receivedAt: 'asc' },
      take: 500,
    });
    let requeued = 0;
    for (const { id } of stale) {
      const result = await requeueJob(queues.providerEvents, providerEventJobId(id), () => enqueue(id));
      if (result !== 'alive') requeued += 1;
    }
    return requeued;
  }

  return { receive, requeueStale };
}
