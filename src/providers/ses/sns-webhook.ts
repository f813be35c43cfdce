import { createVerify } from 'node:crypto';
import { z } from 'zod';
import { DependencyUnavailableError, UnauthorizedError, ValidationError } from '../../lib/errors';
import { parseJsonBody } from '../../lib/json';
import type { BounceDetail, ProviderEventType, ProviderWebhookEvent, WebhookParser } from '../types';
import { reportedRecipient } from '../../lib/recipient';

/**
 * SES events through SNS (HTTP/S subscription to the topic of a configuration set's event destination).
 * Every SNS message is signed (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) with the key of the
 * certificate at SigningCertURL, which must be an https URL on an `sns.<region>.amazonaws.com` host, or the
 * signature proves nothing. A SubscriptionConfirmation is confirmed by fetching its SubscribeURL (same host
 * rule) and records no event.
 */

/** Fetches an https URL's body: certificates and subscription confirmations. The composition root passes the real one. */
export type FetchText = (url: string) => Promise<string>;

/** The production FetchText: a plain https GET that must answer 2xx within the timeout. */
export function fetchHttpsText(timeoutMs: number): FetchText {
  return async (url) => {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    if (!res.ok) throw new Error(`GET ${new URL(url).host} answered ${res.status}`);
    return res.text();
  };
}

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

const SnsMessage = z.looseObject({
  Type: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
  MessageId: z.string().min(1),
  TopicArn: z.string().min(1),
  Message: z.string(),
  Timestamp: z.string(),
  SignatureVersion: z.enum(['1', '2']),
  Signature: z.string().min(1),
  SigningCertURL: z.string(),
  Subject: z.string().optional(),
  Token: z.string().optional(),
  SubscribeURL: z.string().optional(),
});
type SnsMessage = z.infer<typeof SnsMessage>;

/** The fields each message type signs, in this order (SNS developer guide, "Verifying message signatures"). */
const SIGNED_FIELDS: Record<SnsMessage['Type'], (keyof SnsMessage)[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

function stringToSign(message: SnsMessage): string {
  return SIGNED_FIELDS[message.Type]
    .filter((field) => message[field] !== undefined)
    .map((field) => `${field}\n${String(message[field])}\n`)
    .join('');
}

function snsUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UnauthorizedError(`SNS ${what} is not a URL`, 'invalid_signature');
  }
  if (url.protocol !== 'https:' || !SNS_HOST.test(url.hostname)) {
    throw new UnauthorizedError(`SNS ${what} must be an https URL on sns.<region>.amazonaws.com`, 'invalid_signature');
  }
  return url.href;
}

/** SES event names (eventType from a configuration set, notificationType from identity notifications). */
const TYPES: Record<string, ProviderEventType> = {
  Send: 'sent',
  Delivery: 'delivered',
  DeliveryDelay: 'delivery_delayed',
  Bounce: 'bounced',
  Complaint: 'complained',
  Reject: 'failed',
  RenderingFailure: 'failed',
};

const SesEvent = z.looseObject({
  eventType: z.string().optional(),
  notificationType: z.string().optional(),
  mail: z.looseObject({
    messageId: z.string(),
    timestamp: z.string().optional(),
    destination: z.array(z.string()).optional(),
    tags: z.record(z.string(), z.array(z.string())).optional(),
  }),
  bounce: z
    .looseObject({
      bounceType: z.string().optional(),
      bounceSubType: z.string().optional(),
      timestamp: z.string().optional(),
      bouncedRecipients: z
        .array(z.looseObject({ emailAddress: z.string(), diagnosticCode: z.string().optional(), status: z.string().optional() }))
        .optional(),
    })
    .optional(),
  complaint: z.looseObject({ timestamp: z.string().optional(), complaintFeedbackType: z.string().optional() }).optional(),
  delivery: z.looseObject({ timestamp: z.string().optional(), smtpResponse: z.string().optional() }).optional(),
  deliveryDelay: z.looseObject({ timestamp: z.string().optional(), delayType: z.string().optional() }).optional(),
  reject: z.looseObject({ reason: z.string().optional() }).optional(),
  failure: z.looseObject({ errorMessage: z.string().optional() }).optional(),
});
type SesEvent = z.infer<typeof SesEvent>;

function bounceOf(bounce: NonNullable<SesEvent['bounce']>): BounceDetail {
  const first = bounce.bouncedRecipients?.[0];
  return {
    // SES: only `Permanent` should be removed from the list; `Transient` and `Undetermined` are not.
    kind: bounce.bounceType === 'Permanent' ? 'hard' : 'soft',
    type: bounce.bounceType ?? null,
    subType: bounce.bounceSubType ?? null,
    diagnostic: first?.diagnosticCode ?? first?.status ?? null,
  };
}

const at = (...values: (string | undefined)[]): Date | undefined =>
  values.map((v) => (v ? new Date(v) : undefined)).find((d) => d && !Number.isNaN(d.getTime()));

/** What we keep of an SES event: not the headers, whose Subject carries the code. */
function withoutHeaders(event: SesEvent): unknown {
  const { headers: _headers, commonHeaders: _commonHeaders, ...mail } = event.mail as Record<string, unknown>;
  return { ...event, mail };
}

function sesEvent(message: SnsMessage, now: Date): ProviderWebhookEvent {
  let body: unknown;
  try {
    body = JSON.parse(message.Message);
  } catch {
    throw new ValidationError('Malformed SES event: the SNS Message is not JSON');
  }
  const parsed = SesEvent.safeParse(body);
  if (!parsed.success) throw new ValidationError('Malformed SES event: needs `mail.messageId`');
  const event = parsed.data;
  const providerType = event.eventType ?? event.notificationType ?? 'unknown';
  const type = TYPES[providerType] ?? 'unknown';
  const ourId = event.mail.tags?.message_id?.[0] ?? null;
  const result: ProviderWebhookEvent = {
    provider: 'ses',
    eventId: message.MessageId,
    providerType,
    type,
    occurredAt:
      at(
        event.bounce?.timestamp,
        event.complaint?.timestamp,
        event.delivery?.timestamp,
        event.deliveryDelay?.timestamp,
        message.Timestamp,
      ) ?? now,
    providerMessageId: event.mail.messageId,
    messageId: ourId,
    recipient: reportedRecipient(event.bounce?.bouncedRecipients?.[0]?.emailAddress ?? event.mail.destination?.[0]),
    detail: {},
    raw: withoutHeaders(event),
  };
  if (type === 'bounced' && event.bounce) result.bounce = bounceOf(event.bounce);
  if (type === 'failed') result.detail = { reason: event.reject?.reason ?? event.failure?.errorMessage ?? providerType };
  if (type === 'delivery_delayed') result.detail = { reason: event.deliveryDelay?.delayType ?? null };
  return result;
}

export function createSnsWebhookParser({ fetchText, now = () => new Date() }: { fetchText: FetchText; now?: () => Date }): WebhookParser {
  const certificates = new Map<string, Promise<string>>();
  const certificate = (url: string): Promise<string> => {
    let pem = certificates.get(url);
    if (!pem) {
      pem = fetchText(url);
      // A failed fetch is not remembered: the next delivery tries again.
      pem.catch(() => certificates.delete(url));
      certificates.set(url, pem);
    }
    return pem;
  };

  async function verify(message: SnsMessage): Promise<void> {
    const certUrl = snsUrl(message.SigningCertURL, 'SigningCertURL');
    let pem: string;
    try {
      pem = await certificate(certUrl);
    } catch (err) {
      throw new UnauthorizedError(`SNS signing certificate could not be fetched: ${String(err)}`, 'invalid_signature');
    }
    const verifier = createVerify(message.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256').update(stringToSign(message), 'utf8');
    let valid: boolean;
    try {
      valid = verifier.verify(pem, message.Signature, 'base64');
    } catch {
      valid = false;
    }
    if (!valid) throw new UnauthorizedError('Webhook signature rejected: the SNS signature does not match', 'invalid_signature');
  }

  return {
    async parseWebhook(rawBody) {
      const parsed = SnsMessage.safeParse(parseJsonBody(rawBody));
      if (!parsed.success)
        throw new ValidationError('Malformed SNS message: needs Type, MessageId, TopicArn, Message, Timestamp and a signature');
      const message = parsed.data;
      await verify(message);
      if (message.Type === 'SubscriptionConfirmation') {
        if (!message.SubscribeURL) throw new ValidationError('Malformed SNS subscription confirmation: no SubscribeURL');
        const subscribeUrl = snsUrl(message.SubscribeURL, 'SubscribeURL');
        try {
          await fetchText(subscribeUrl);
        } catch (err) {
          // 503: SNS sends the confirmation again.
          throw new DependencyUnavailableError('Could not confirm the SNS subscription; retry later', err);
        }
        return null;
      }
      if (message.Type === 'UnsubscribeConfirmation') return null;
      return sesEvent(message, now());
    },
  };
}
