import { z } from 'zod';
import { ValidationError } from '../../lib/errors';
import { createSvixVerifier } from '../../lib/svix';
import { withoutSecrets } from '../webhook-redaction';
import type { BounceDetail, ProviderEventType, ProviderWebhookEvent, WebhookParser } from '../types';
import { reportedRecipient } from '../../lib/recipient';
import { parseJsonBody, parseOrThrow } from '../../lib/json';

/**
 * Resend's webhooks (providers.md §2): Svix-signed, `{type, created_at, data}`, joined to our message by
 * `data.email_id` (the id `emails.send` returned) or our `message_id` tag. Unknown types are passed on as
 * `unknown` so they are stored and acknowledged, never refused.
 */

const TYPES: Record<string, ProviderEventType> = {
  'email.sent': 'sent',
  'email.delivered': 'delivered',
  'email.delivery_delayed': 'delivery_delayed',
  'email.bounced': 'bounced',
  'email.complained': 'complained',
  'email.failed': 'failed',
  'email.suppressed': 'suppressed',
  'email.opened': 'opened',
  'email.clicked': 'clicked',
};

const Envelope = z.looseObject({
  type: z.string().min(1),
  created_at: z.string().optional(),
  data: z.looseObject({}).optional(),
});

const EmailData = z.looseObject({
  email_id: z.string().nullish(),
  to: z.union([z.array(z.string()), z.string()]).nullish(),
  // An object on webhooks (the `[{name, value}]` array is the send-side shape; accept both).
  tags: z.union([z.record(z.string(), z.unknown()), z.array(z.looseObject({ name: z.string(), value: z.unknown() }))]).nullish(),
  bounce: z
    .looseObject({
      type: z.string().nullish(),
      subType: z.string().nullish(),
      message: z.string().nullish(),
      diagnosticCode: z.union([z.array(z.string()), z.string()]).nullish(),
    })
    .nullish(),
  failed: z.looseObject({ reason: z.string().nullish() }).nullish(),
  suppressed: z.looseObject({ type: z.string().nullish(), message: z.string().nullish(), reason: z.string().nullish() }).nullish(),
});

function tag(tags: z.infer<typeof EmailData>['tags'], name: string): string | null {
  if (!tags) return null;
  const value = Array.isArray(tags) ? tags.find((t) => t.name === name)?.value : tags[name];
  return typeof value === 'string' && value ? value : null;
}

function eventTime(value: string | undefined, fallback: Date): Date {
  const at = value ? new Date(value) : undefined;
  return at && !Number.isNaN(at.getTime()) ? at : fallback;
}

function bounceOf(bounce: NonNullable<z.infer<typeof EmailData>['bounce']>): BounceDetail {
  const diagnostic = Array.isArray(bounce.diagnosticCode) ? bounce.diagnosticCode.join('; ') : bounce.diagnosticCode;
  return {
    // Only `Permanent` is a hard bounce; `Transient` and `Undetermined` (or a missing type) are not.
    kind: bounce.type === 'Permanent' ? 'hard' : 'soft',
    type: bounce.type ?? null,
    subType: bounce.subType ?? null,
    diagnostic: diagnostic || bounce.message || null,
  };
}

export function createResendWebhookParser(secret: string, now: () => Date = () => new Date()): WebhookParser {
  const verifier = createSvixVerifier(secret);
  return {
    parseWebhook(rawBody, headers) {
      const { id } = verifier.verify(rawBody, headers);
      const body = parseJsonBody(rawBody);
      const envelope = Envelope.safeParse(body);
      if (!envelope.success) throw new ValidationError('Malformed Resend event: needs a `type`');
      const { type: providerType, created_at } = envelope.data;
      const type = TYPES[providerType] ?? 'unknown';
      const occurredAt = eventTime(created_at, now());
      const base = { provider: 'resend', eventId: id, providerType, occurredAt, raw: withoutSecrets(body) };
      if (type === 'unknown') {
        return { ...base, type, providerMessageId: null, messageId: null, recipient: null, detail: {} };
      }

      const data = parseOrThrow(EmailData, envelope.data.data ?? {}, 'Malformed Resend event', 'data');
      const event: ProviderWebhookEvent = {
        ...base,
        type,
        providerMessageId: data.email_id ?? null,
        messageId: tag(data.tags, 'message_id'),
        recipient: reportedRecipient(Array.isArray(data.to) ? data.to[0] : data.to),
        detail: {},
      };
      if (type === 'bounced') event.bounce = bounceOf(data.bounce ?? {});
      if (type === 'failed') event.detail = { reason: data.failed?.reason ?? null };
      // `suppressed.type` (`OnAccountSuppressionList`, `Suppressed`) and `message` are always there; `reason`
      // (`previous_bounce`, `previous_complaint`) only sometimes (providers.md §2.4).
      if (type === 'suppressed') {
        event.detail = {
          suppression_type: data.suppressed?.type ?? null,
          message: data.suppressed?.message ?? null,
          reason: data.suppressed?.reason ?? null,
        };
      }
      return event;
    },
  };
}
