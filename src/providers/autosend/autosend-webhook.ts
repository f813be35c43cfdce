import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { UnauthorizedError, ValidationError } from '../../lib/errors';
import type { BounceDetail, ProviderEventType, ProviderWebhookEvent, WebhookParser } from '../types';
import { withoutSecrets } from '../webhook-redaction';

/**
 * Autosend's webhooks (providers.md §6.2): `X-Webhook-Signature` is the hex HMAC-SHA256 of the raw body
 * (sometimes prefixed `hmac-sha256=`). Its timestamp header is not signed, so replay protection rests on the
 * signed `createdAt` being recent and on deduplicating `X-Webhook-Delivery-Id`.
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

const text = z.string().nullish();

const EmailData = z.looseObject({
  emailId: text,
  to: z.union([z.looseObject({ email: z.string() }), z.string()]).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  // Autosend does not document the bounce field names (providers.md §6.2): read the likely spellings.
  bounceType: text,
  bounceSubType: text,
  bounce: z.looseObject({ type: text, subType: text, message: text, reason: text, diagnosticCode: text }).nullish(),
  reason: text,
  diagnosticCode: text,
});

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

function bounceOf(data: z.infer<typeof EmailData>): BounceDetail {
  const type = data.bounceType ?? data.bounce?.type ?? null;
  return {
    kind: type?.toLowerCase() === 'permanent' || type?.toLowerCase() === 'hard' ? 'hard' : 'soft',
    type,
    subType: data.bounceSubType ?? data.bounce?.subType ?? null,
    diagnostic: data.diagnosticCode ?? data.bounce?.diagnosticCode ?? data.bounce?.message ?? data.bounce?.reason ?? data.reason ?? null,
  };
}

export function createAutosendWebhookParser(secret: string, now: () => Date = () => new Date()): WebhookParser {
  const key = Buffer.from(secret, 'utf8');

  function verify(rawBody: Buffer, headers: IncomingHttpHeaders): void {
    const signature = header(headers, 'x-webhook-signature')?.trim().replace(/^hmac-sha256=/i, '');
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
      let body: unknown;
      try {
        body = JSON.parse(rawBody.toString('utf8'));
      } catch {
        throw new ValidationError('Body is not valid JSON');
      }
      const envelope = Envelope.safeParse(body);
      if (!envelope.success) throw new ValidationError('Malformed Autosend event: needs `type` and `createdAt`');
      const occurredAt = new Date(envelope.data.createdAt);
      const current = now().getTime();
      if (Number.isNaN(occurredAt.getTime())) throw new ValidationError('Malformed Autosend event: `createdAt` is not a timestamp');
      if (occurredAt.getTime() < current - AUTOSEND_MAX_EVENT_AGE_MS || occurredAt.getTime() > current + MAX_CLOCK_SKEW_MS) {
        throw new UnauthorizedError('Webhook rejected: its signed createdAt is not recent (replayed?)', 'invalid_signature');
      }
      // Without a delivery id, the signed body itself identifies the delivery.
      const eventId = header(headers, 'x-webhook-delivery-id') ?? `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
      const providerType = envelope.data.type;
      const type = TYPES[providerType] ?? 'unknown';
      const base = { provider: 'autosend', eventId, providerType, occurredAt, raw: withoutSecrets(body) };
      if (type === 'unknown') return { ...base, type, providerMessageId: null, messageId: null, recipient: null, detail: {} };

      const parsed = EmailData.safeParse(envelope.data.data ?? {});
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `data.${i.path.join('.')}: ${i.message}`).join('; ');
        throw new ValidationError(`Malformed Autosend event: ${issues}`);
      }
      const data = parsed.data;
      const recipient = typeof data.to === 'string' ? data.to : data.to?.email;
      const messageId = data.metadata?.message_id;
      const event: ProviderWebhookEvent = {
        ...base,
        type,
        providerMessageId: data.emailId ?? null,
        messageId: typeof messageId === 'string' && messageId ? messageId : null,
        recipient: recipient?.toLowerCase() ?? null,
        detail: {},
      };
      if (type === 'bounced') event.bounce = bounceOf(data);
      return event;
    },
  };
}
