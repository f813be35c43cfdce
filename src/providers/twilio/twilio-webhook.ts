import type TwilioSdk from 'twilio';
import { UnauthorizedError, ValidationError } from '../../lib/errors';
import type { ProviderEventType, WebhookParser } from '../types';

/**
 * Twilio status callbacks: form-encoded, signed in `X-Twilio-Signature` (HMAC-SHA1 with the auth token over
 * the full URL Twilio called and the sorted POST parameters), checked by the SDK's `validateRequest`. They
 * carry no event id and no time: a (MessageSid, MessageStatus) pair happens once, so it is the dedupe key.
 * Our message id is the last path segment of the StatusCallback the adapter set.
 */

const TYPES: Record<string, ProviderEventType> = {
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'failed',
  failed: 'failed',
};

const header = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

export function createTwilioWebhookParser(authToken: string, now: () => Date = () => new Date()): WebhookParser {
  // The SDK is loaded only when Twilio is configured (TWILIO_AUTH_TOKEN): an idle API process does not carry it.
  const twilio = require('twilio') as typeof TwilioSdk;
  return {
    parseWebhook(rawBody, headers, request) {
      const signature = header(headers['x-twilio-signature']);
      if (!signature) throw new UnauthorizedError('Webhook signature rejected: missing X-Twilio-Signature', 'invalid_signature');
      const params = Object.fromEntries(new URLSearchParams(rawBody.toString('utf8')));
      if (!twilio.validateRequest(authToken, signature, request.url, params)) {
        throw new UnauthorizedError('Webhook signature rejected: X-Twilio-Signature does not match this URL and body', 'invalid_signature');
      }
      const sid = params.MessageSid ?? params.SmsSid;
      const status = params.MessageStatus ?? params.SmsStatus;
      if (!sid || !status) throw new ValidationError('Malformed Twilio status callback: needs MessageSid and MessageStatus');
      const type = TYPES[status] ?? 'unknown';
      const path = new URL(request.url).pathname.split('/').filter(Boolean);
      const ourId = path.length === 3 && path[1] === 'twilio' ? decodeURIComponent(path[2]!) : null;
      const errorCode = params.ErrorCode ?? null;
      return {
        provider: 'twilio',
        eventId: `${sid}:${status}`,
        providerType: status,
        type,
        occurredAt: now(),
        providerMessageId: sid,
        messageId: ourId,
        recipient: params.To ?? null,
        detail: type === 'failed' ? { reason: errorCode ? `Twilio error ${errorCode}` : status, error_code: errorCode } : {},
        // No message body in a status callback, but the code could be: keep only the status fields.
        raw: { MessageSid: sid, MessageStatus: status, ErrorCode: errorCode, To: params.To ?? null, From: params.From ?? null },
      };
    },
  };
}
