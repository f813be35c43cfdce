import type { Db } from '../db/prisma';
import type { Prisma } from '../generated/prisma/client';
import { NotFoundError, ValidationError } from '../lib/errors';
import { newId } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { checkUrl, RefusedDestinationError, resolveDestination, type AddressPolicy, type Resolve } from './address-policy';
import type { OutboundEventType, OutboundPublisher } from './events';
import { newSigningSecret } from './signing';

/**
 * The tenant's webhook endpoints. The secret is shown once, when created or rotated; a rotation keeps the old
 * secret signing for ROTATION_OVERLAP_MS so receivers can switch without missing an event (as Svix does).
 */

export const ROTATION_OVERLAP_MS = 24 * 3600_000;

export type EndpointRow = Prisma.WebhookEndpointGetPayload<object>;

export interface EndpointJson {
  id: string;
  url: string;
  description: string;
  /** Null: every event type. */
  event_types: string[] | null;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  /** Until when the secret before the last rotation still signs. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export function toEndpointJson(e: EndpointRow, now = new Date()): EndpointJson {
  const overlap = e.previousSecretUntil && e.previousSecretUntil > now ? e.previousSecretUntil.toISOString() : null;
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    event_types: e.eventTypes.length > 0 ? e.eventTypes : null,
    enabled: e.enabled,
    disabled_reason: e.disabledReason,
    failing_since: e.failingSince ? e.failingSince.toISOString() : null,
    previous_secret_expires_at: overlap,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

export interface EndpointInput {
  url: string;
  description?: string;
  eventTypes?: OutboundEventType[] | null;
  enabled?: boolean;
}

export interface EndpointsDeps {
  db: Db;
  policy: AddressPolicy;
  resolve: Resolve;
  publisher: Pick<OutboundPublisher, 'endpointsChanged'>;
  log: Logger;
  now?: () => Date;
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>;

export function createWebhookEndpoints({ db, policy, resolve, publisher, log, now = () => new Date() }: EndpointsDeps) {
  /** Refused at once when it could never be sent to; the same checks run again at every send. */
  async function validUrl(raw: string): Promise<string> {
    try {
      const url = checkUrl(raw, policy);
      if (policy.production) await resolveDestination(url, policy, resolve);
      return url.toString();
    } catch (err) {
      if (err instanceof RefusedDestinationError)
        throw new ValidationError(err.message.startsWith('url:') ? err.message : `url: ${err.message}`);
      throw err;
    }
  }

  async function get(id: string): Promise<EndpointRow> {
    const row = await db.webhookEndpoint.findUnique({ where: { id } });
    if (!row) throw new NotFoundError(`No webhook endpoint ${id}`);
    return row;
  }

  async function create(input: EndpointInput): Promise<{ endpoint: EndpointRow; secret: string }> {
    const secret = newSigningSecret();
    const endpoint = await db.webhookEndpoint.create({
      data: {
        id: newId('ep'),
        url: await validUrl(input.url),
        description: input.description ?? '',
        eventTypes: input.eventTypes ?? [],
        enabled: input.enabled ?? true,
        disabledReason: input.enabled === false ? 'disabled by an operator' : null,
        secret,
      },
    });
    publisher.endpointsChanged();
    log.info({ endpoint_id: endpoint.id }, 'webhook endpoint created');
    return { endpoint, secret };
  }

  async function update(id: string, patch: Partial<EndpointInput>): Promise<EndpointRow> {
    const current = await get(id);
    const enabling = patch.enabled === true && !current.enabled;
    const endpoint = await db.webhookEndpoint.update({
      where: { id },
      data: {
        ...(patch.url !== undefined ? { url: await validUrl(patch.url) } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.eventTypes !== undefined ? { eventTypes: patch.eventTypes ?? [] } : {}),
        ...(patch.enabled === false && current.enabled ? { enabled: false, disabledReason: 'disabled by an operator' } : {}),
        // Enabled again: its five days of failures start afresh.
        ...(enabling ? { enabled: true, disabledReason: null, failingSince: null } : {}),
      },
    });
    publisher.endpointsChanged();
    log.info({ endpoint_id: id, enabled: endpoint.enabled }, 'webhook endpoint updated');
    return endpoint;
  }

  async function remove(id: string): Promise<void> {
    const { count } = await db.webhookEndpoint.deleteMany({ where: { id } });
    if (count === 0) throw new NotFoundError(`No webhook endpoint ${id}`);
    publisher.endpointsChanged();
    log.info({ endpoint_id: id }, 'webhook endpoint deleted');
  }

  /** A new secret; the current one keeps signing for 24 h. A second rotation within them ends the oldest at once. */
  async function rotateSecret(id: string): Promise<{ endpoint: EndpointRow; secret: string }> {
    const current = await get(id);
    const secret = newSigningSecret();
    const endpoint = await db.webhookEndpoint.update({
      where: { id },
      data: { secret, previousSecret: current.secret, previousSecretUntil: new Date(now().getTime() + ROTATION_OVERLAP_MS) },
    });
    log.info({ endpoint_id: id }, 'webhook endpoint secret rotated');
    return { endpoint, secret };
  }

  const list = (): Promise<EndpointRow[]> => db.webhookEndpoint.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });

  return { list, get, create, update, remove, rotateSecret };
}
