import type TwilioSdk from 'twilio';
import { E164_NUMBER } from '../../lib/recipient';
import { NotConfiguredError } from '../../lib/errors';
import { acceptedWithoutId, classifyFailure, describeFetchError, missingApiKeyError, refused } from '../error-policy';
import type { OutgoingSms, ProviderFailure, ProviderOutcome, SmsProvider, WebhookParser } from '../types';
import { createTwilioWebhookParser } from './twilio-webhook';

export interface TwilioProviderOptions {
  accountSid?: string;
  /** TWILIO_AUTH_TOKEN: signs requests (unless an API key pair is set) and is what Twilio signs its callbacks with. */
  authToken?: string;
  apiKey?: string;
  apiSecret?: string;
  /** TWILIO_FROM (a number or alphanumeric sender) or TWILIO_MESSAGING_SERVICE_SID. */
  from?: string;
  messagingServiceSid?: string;
  /** TWILIO_API_URL: replaces `https://api.twilio.com` in every request (a local fake in tests). */
  apiUrl?: string;
  /** PUBLIC_URL: where Twilio posts status callbacks (`/webhooks/twilio/<message id>`); without it, none are asked for. */
  publicUrl?: string;
  timeoutMs: number;
}

/** Twilio error codes (twilio.com/docs/api/errors) the HTTP status alone would misclassify. */
const SUPPRESSING = new Set([21610]); // the number replied STOP: Twilio refuses every message to it until START
const TRANSIENT = new Set([20429, 30001]); // too many requests; queue overflow
/** Our sender is not usable on this account (not a Twilio number, not SMS-capable, not in the service): another provider can send. */
const SENDER_REFUSED = new Set([21212, 21606, 21659, 21703, 21704]);

/** The SDK's default RequestClient, sending to TWILIO_API_URL instead of the hosts the SDK builds. */
function rebasedRequestClient(twilio: typeof TwilioSdk, apiUrl: string, timeout: number): TwilioSdk.RequestClient {
  class RebasedRequestClient extends twilio.RequestClient {
    override request<TData>(opts: Parameters<TwilioSdk.RequestClient['request']>[0] & { data?: TData }) {
      const uri = new URL(opts.uri);
      return super.request<TData>({ ...opts, uri: `${apiUrl.replace(/\/+$/, '')}${uri.pathname}${uri.search}` });
    }
  }
  return new RebasedRequestClient({ timeout });
}

function classifyTwilioError(twilio: typeof TwilioSdk, err: unknown, timeoutMs: number): ProviderFailure {
  if (err instanceof twilio.RestException) {
    const code = err.code;
    const call = {
      status: err.status,
      code: code !== undefined ? String(code) : undefined,
      message: err.message,
      body: { code, message: err.message, more_info: err.moreInfo, status: err.status },
    };
    if (code !== undefined && SUPPRESSING.has(code)) {
      return { kind: 'failed', message: err.message, status: err.status, code: call.code, raw: call.body, suppress: 'complaint' };
    }
    if (code !== undefined && TRANSIENT.has(code)) {
      const detail = { message: err.message, status: err.status, code: call.code, raw: call.body };
      return code === 20429 ? { kind: 'rate_limited', ...detail } : { kind: 'retry', ...detail, unanswered: false };
    }
    if (code !== undefined && SENDER_REFUSED.has(code)) {
      return { kind: 'fail_over', message: `sender refused: ${err.message}`, status: err.status, code: call.code, raw: call.body };
    }
    return classifyFailure(call);
  }
  // No answer: axios reports its own timeout as ECONNABORTED (or ETIMEDOUT from the socket).
  const code = (err as { code?: string }).code;
  const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT';
  return classifyFailure({ status: null, message: timedOut ? `no answer within ${timeoutMs} ms` : describeFetchError(err), timedOut });
}

/**
 * Twilio SMS through its SDK (Messages API), with a StatusCallback per message, and `parseWebhook` for those
 * callbacks (X-Twilio-Signature). The SDK does not retry unless told to (autoRetry off): every retry is the
 * delivery service's. Twilio's Messages API takes no idempotency key, so a request that got no answer may
 * have been sent: see README.
 */
export function createTwilioProvider(options: TwilioProviderOptions): SmsProvider & WebhookParser {
  const { accountSid, timeoutMs } = options;
  const [username, password] = options.apiKey && options.apiSecret ? [options.apiKey, options.apiSecret] : [accountSid, options.authToken];
  // The SDK (a large module tree) is loaded only when Twilio is configured: an idle API process does not carry it.
  const twilio = accountSid && username && password ? (require('twilio') as typeof TwilioSdk) : null;
  const client =
    twilio && accountSid && username && password
      ? twilio(username, password, {
          accountSid,
          timeout: timeoutMs,
          ...(options.apiUrl ? { httpClient: rebasedRequestClient(twilio, options.apiUrl, timeoutMs) } : {}),
        })
      : null;
  const webhook = options.authToken ? createTwilioWebhookParser(options.authToken) : null;

  async function send(message: OutgoingSms): Promise<ProviderOutcome> {
    if (!twilio || !client) return missingApiKeyError('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY + TWILIO_API_SECRET)');
    if (!E164_NUMBER.test(message.to)) {
      return refused(`"${message.to}" is not an E.164 phone number`, 'invalid_recipient');
    }
    let created: { sid?: string; status?: string; numSegments?: string };
    try {
      created = await client.messages.create({
        to: message.to,
        body: message.body,
        ...(options.messagingServiceSid ? { messagingServiceSid: options.messagingServiceSid } : { from: options.from! }),
        ...(options.publicUrl
          ? { statusCallback: `${options.publicUrl.replace(/\/+$/, '')}/webhooks/twilio/${encodeURIComponent(message.messageId)}` }
          : {}),
      });
    } catch (err) {
      return classifyTwilioError(twilio, err, timeoutMs);
    }
    if (!created.sid) return acceptedWithoutId('Twilio', created);
    return {
      kind: 'sent',
      providerMessageId: created.sid,
      detail: { status: created.status ?? null, segments: created.numSegments ?? null },
    };
  }

  const parseWebhook: WebhookParser['parseWebhook'] = (rawBody, headers, request) => {
    if (!webhook) throw new NotConfiguredError('Set TWILIO_AUTH_TOKEN: Twilio signs its status callbacks with the account auth token');
    return webhook.parseWebhook(rawBody, headers, request);
  };

  return { name: 'twilio', channel: 'sms', send, parseWebhook };
}
