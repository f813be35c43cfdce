import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { UnauthorizedError, ValidationError } from '../../lib/errors';
import { parseJsonBody } from '../../lib/json';
import type { BounceDetail, ProviderEventType, ProviderWebhookEvent, WebhookParser } from '../types';
import { reportedRecipient } from '../../lib/recipient';

/**
 * Postmark webhooks (Bounce, SpamComplaint, Delivery, SubscriptionChange), one JSON record per request with
 * its `RecordType`. Postmark signs nothing: the webhook URL carries basic-auth credentials
 * (`https://user:password@relay.example.com/webhooks/postmark`), compared here in constant time.
 */

/** Bounce types that mean the address cannot take mail (Postmark deactivates it). */
const HARD_TYPES = new Set(['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated', 'Blocked']);

const Record_ = z.looseObject({
  RecordType: z.string().min(1),
  ID: z.union([z.number(), z.string()]).optional(),
  MessageID: z.string().optional(),
  Type: z.string().optional(),
  Email: z.string().optional(),
  Recipient: z.string().optional(),
  Description: z.string().optional(),
  Details: z.string().optional(),
  BouncedAt: z.string().optional(),
  DeliveredAt: z.string().optional(),
  ChangedAt: z.string().optional(),
  SuppressSending: z.boolean().optional(),
  SuppressionReason: z.string().nullish(),
  Metadata: z.record(z.string(), z.unknown()).nullish(),
});
type PostmarkRecord = z.infer<typeof Record_>;

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

function typeOf(record: PostmarkRecord): ProviderEventType {
  switch (record.RecordType) {
    case 'Bounce':
      return 'bounced';
    case 'SpamComplaint':
      return 'complained';
    case 'Delivery':
      return 'delivered';
    case 'SubscriptionChange':
      // SuppressSending false is a reactivation: recorded, not acted on (release the suppression by hand).
      return record.SuppressSending ? 'suppressed' : 'unknown';
    default:
      return 'unknown';
  }
}

function eventIdOf(record: PostmarkRecord): string {
  if (record.ID !== undefined) return `${record.RecordType}:${record.ID}`;
  const at = record.DeliveredAt ?? record.ChangedAt ?? '';
  return `${record.RecordType}:${record.MessageID ?? ''}:${record.Recipient ?? record.Email ?? ''}:${at}:${record.SuppressSending ?? ''}`;
}

function bounceOf(record: PostmarkRecord): BounceDetail {
  return {
    kind: record.Type && HARD_TYPES.has(record.Type) ? 'hard' : 'soft',
    type: record.Type ?? null,
    subType: null,
    diagnostic: record.Details || record.Description || null,
  };
}

export function createPostmarkWebhookParser(user: string, password: string, now: () => Date = () => new Date()): WebhookParser {
  const expected = digest(`${user}:${password}`);
  return {
    parseWebhook(rawBody, headers) {
      const basic = /^Basic\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
      const given = basic ? digest(Buffer.from(basic, 'base64').toString('utf8')) : Buffer.alloc(expected.length);
      if (!basic || !timingSafeEqual(given, expected)) {
        throw new UnauthorizedError('Webhook rejected: wrong or missing basic-auth credentials', 'invalid_credentials');
      }
      const parsed = Record_.safeParse(parseJsonBody(rawBody));
      if (!parsed.success) throw new ValidationError('Malformed Postmark webhook: needs a RecordType');
      const record = parsed.data;
      const type = typeOf(record);
      const at = [record.BouncedAt, record.DeliveredAt, record.ChangedAt]
        .map((v) => (v ? new Date(v) : undefined))
        .find((d) => d && !Number.isNaN(d.getTime()));
      const ourId = record.Metadata?.message_id;
      const { Subject: _subject, Content: _content, ...kept } = record as Record<string, unknown>;
      const event: ProviderWebhookEvent = {
        provider: 'postmark',
        eventId: eventIdOf(record),
        providerType: record.RecordType,
        type,
        occurredAt: at ?? now(),
        providerMessageId: record.MessageID ?? null,
        messageId: typeof ourId === 'string' && ourId ? ourId : null,
        recipient: reportedRecipient(record.Email ?? record.Recipient),
        detail: {},
        // Subject carries the code; Content (when a bounce dump is included) the whole message.
        raw: kept,
      };
      if (type === 'bounced') event.bounce = bounceOf(record);
      if (type === 'suppressed') {
        event.detail = { reason: record.SuppressionReason === 'SpamComplaint' ? 'previous_complaint' : (record.SuppressionReason ?? null) };
      }
      return event;
    },
  };
}
