import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { UnauthorizedError, ValidationError } from '../../lib/errors';
import type { BounceDetail, ProviderEventType, ProviderWebhookEvent, WebhookParser } from '../types';
import { reportedRecipient } from '../../lib/recipient';
import { HARD_BOUNCE_STATUS } from '../error-policy';
import { withoutSecrets } from '../webhook-redaction';
import { parseJsonBody, parseOrThrow } from '../../lib/json';

/**
 * Autosend's webhooks (providers.md §6.2): `X-Webhook-Signature` is the hex HMAC-SHA256 of the raw body
 * (sometimes prefixed `hmac-sha256=`). Neither its timestamp nor its delivery id header is signed, so replay
 * protection rests on the signed `createdAt` being recent and on deduplicating the signed body.
 */

/** Autosend retries for about a minute; anything signed much earlier is a replay. */
export const AUTOSEND_MAX_EVENT_AGE_MS = 15 * 60_000;
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const TYPES: Record<string, ProviderEventType> = {
  'email.sent': 'sent',
  'email.delivered': 'delivered',
  'email.deferred': 'delivery_delayed',
  'email.bounced': 'bounced',
  'email.spam_reported': 'complained',
  'email.opened': 'opened',
  'email.clicked': 'clicked',
};

const Envelope = z.looseObject({
  type: z.string().min(1),
  createdAt: z.string(),
  data: z.looseObject({}).optional(),
});

// Only what joins the event to a message is typed; the bounce fields are read leniently (bounceOf), since a
// refused bounce is a lost bounce: Autosend gives up after three retries.
const EmailData = z.looseObject({
  emailId: z.string().nullish(),
  to: z.union([z.looseObject({ email: z.string() }), z.string()]).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const HARD_TYPES = new Set(['permanent', 'hard', 'hardbounce']);
const SOFT_TYPES = new Set(['transient', 'soft', 'softbounce', 'temporary', 'undetermined']);
function textOf(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() || null;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return textOf(value.filter((v) => typeof v === 'string').join('; '));
  return null;
}

const firstText = (...values: unknown[]): string | null => values.map(textOf).find((v) => v !== null) ?? null;

/** Autosend does not document its bounce fields (providers.md §6.2): read every likely spelling. */
function bounceOf(data: Record<string, unknown>): BounceDetail {
  const b = (typeof data.bounce === 'object' && data.bounce !== null ? data.bounce : {}) as Record<string, unknown>;
  const type = firstText(data.bounceType, data.bounce_type, b.type, b.bounceType, b.bounce_type, b.kind);
  const subType = firstText(data.bounceSubType, data.bounceSubtype, data.bounce_sub_type, b.subType, b.subtype, b.sub_type);
  const diagnostic = firstText(
    data.diagnosticCode,
    data.diagnostic_code,
    b.diagnosticCode,
    b.diagnostic_code,
    data.smtpResponse,
    b.smtpResponse,
    b.message,
    b.reason,
    data.reason,
    data.error,
  );
  const normalized = type?.toLowerCase().replace(/[\s_-]/g, '');
  const kind =
    normalized && HARD_TYPES.has(normalized)
      ? 'hard'
      : normalized && SOFT_TYPES.has(normalized)
        ? 'soft'
        : HARD_BOUNCE_STATUS.test(diagnostic ?? '')
          ? 'hard'
          : 'soft';
  return { kind, type, subType, diagnostic };
}

export function createAutosendWebhookParser(secret: string, now: () => Date = () => new Date()): WebhookParser {
  const key = Buffer.from(secret, 'utf8');

  function verify(rawBody: Buffer, headers: IncomingHttpHeaders): void {
    const signature = header(headers, 'x-webhook-signature')
      ?.trim()
      .replace(/^hmac-sha256=/i, '');
    if (!signature) throw new UnauthorizedError('Webhook signature rejected: missing X-Webhook-Signature', 'invalid_signature');
    const expected = createHmac('sha256', key).update(rawBody).digest();
    const given = /^[0-9a-f]{64}$/i.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(0);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new UnauthorizedError('Webhook signature rejected: no matching signature', 'invalid_signature');
    }
  }

  return {
    parseWebhook(rawBody, headers) {
      verify(rawBody, headers);
      const body = parseJsonBody(rawBody);
      const envelope = Envelope.safeParse(body);
      if (!envelope.success) throw new ValidationError('Malformed Autosend event: needs `type` and `createdAt`');
      const occurredAt = new Date(envelope.data.createdAt);
      const current = now().getTime();
      if (Number.isNaN(occurredAt.getTime())) throw new ValidationError('Malformed Autosend event: `createdAt` is not a timestamp');
      if (occurredAt.getTime() < current - AUTOSEND_MAX_EVENT_AGE_MS || occurredAt.getTime() > current + MAX_CLOCK_SKEW_MS) {
        throw new UnauthorizedError('Webhook rejected: its signed createdAt is not recent (replayed?)', 'invalid_signature');
      }
      // The signed body identifies the event. X-Webhook-Delivery-Id is not signed: deduping on it would let
      // anyone holding one signed body replay it under fresh ids (a retry carries the same body).
      const eventId = `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
      const providerType = envelope.data.type;
      const type = TYPES[providerType] ?? 'unknown';
      const base = { provider: 'autosend', eventId, providerType, occurredAt, raw: withoutSecrets(body) };
      if (type === 'unknown') return { ...base, type, providerMessageId: null, messageId: null, recipient: null, detail: {} };

      const data = parseOrThrow(EmailData, envelope.data.data ?? {}, 'Malformed Autosend event', 'data');
      const recipient = typeof data.to === 'string' ? data.to : data.to?.email;
      const messageId = data.metadata?.message_id;
      const event: ProviderWebhookEvent = {
        ...base,
        type,
        providerMessageId: data.emailId ?? null,
        messageId: typeof messageId === 'string' && messageId ? messageId : null,
        recipient: reportedRecipient(recipient),
        detail: {},
      };
      if (type === 'bounced') event.bounce = bounceOf(data as Record<string, unknown>);
      return event;
    },
  };
}
