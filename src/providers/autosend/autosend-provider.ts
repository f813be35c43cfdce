import { NotConfiguredError } from '../../lib/errors';
import {
  acceptedWithoutId,
  classifyFailure,
  describeFetchError,
  missingApiKeyError,
  missingFromError,
  parseRateLimit,
  refused,
} from '../error-policy';
import type { EmailProvider, OutgoingEmail, ProviderOutcome, WebhookParser } from '../types';
import { createAutosendWebhookParser } from './autosend-webhook';

export interface AutosendProviderOptions {
  /** AUTOSEND_API_KEY; unset where Autosend only reports events (not in EMAIL_PROVIDERS, or no longer). */
  apiKey?: string;
  /** AUTOSEND_API_URL, without the `/v1/...` path. */
  apiUrl: string;
  timeoutMs: number;
  /** AUTOSEND_WEBHOOK_SECRET; unset, `/webhooks/autosend` answers 503 saying to set it. */
  webhookSecret?: string;
}

interface Mailbox {
  email: string;
  name?: string;
}

/** `Acme <auth@acme.com>`, `"Acme, Inc." <auth@acme.com>` or a bare address, as Autosend's `{email, name}`. */
export function toMailbox(address: string): Mailbox {
  const match = /^\s*(.*?)\s*<([^<>]+)>\s*$/.exec(address);
  if (!match) return { email: address.trim() };
  const name = match[1]!.replace(/^"(.*)"$/, '$1').replace(/\\(["\\])/g, '$1');
  return name ? { email: match[2]!.trim(), name } : { email: match[2]!.trim() };
}

/** Both documented success bodies: `{success, data: {emailId, …}}` and the older bare `{emailId}`. */
function emailIdOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as { emailId?: unknown; data?: { emailId?: unknown } };
  const id = record.data?.emailId ?? record.emailId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * Autosend: `send` over plain fetch (its SDK retries 5xx and timeouts by itself without an idempotency key,
 * which can send a code twice), `parseWebhook` for its HMAC-signed delivery events. One recipient per call;
 * every retry is the delivery service's, with the same key. Autosend documents no custom MIME headers or
 * tags, so X-Entity-Ref-ID cannot be sent through it.
 */
export function createAutosendProvider(options: AutosendProviderOptions): EmailProvider & WebhookParser {
  const endpoint = `${options.apiUrl.replace(/\/+$/, '')}/v1/mails/send`;
  const webhook = options.webhookSecret ? createAutosendWebhookParser(options.webhookSecret) : null;

  async function send(message: OutgoingEmail): Promise<ProviderOutcome> {
    const { apiKey } = options;
    if (!apiKey) return missingApiKeyError('AUTOSEND_API_KEY');
    if (!message.from) return missingFromError();
    if (message.html === undefined && message.text === undefined) {
      return refused('the message has neither an HTML nor a text body', 'empty_body');
    }
    const payload = {
      to: { email: message.to },
      from: toMailbox(message.from),
      subject: message.subject,
      ...(message.html !== undefined ? { html: message.html } : {}),
      ...(message.text !== undefined ? { text: message.text } : {}),
      ...(message.replyTo ? { replyTo: toMailbox(message.replyTo) } : {}),
      // Our id, for joining its webhooks back should they carry the metadata (its `emailId` is the main join).
      metadata: { message_id: message.messageId },
    };

    const signal = AbortSignal.timeout(options.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'idempotency-key': message.idempotencyKey,
        },
        body: JSON.stringify(payload),
        signal,
      });
      text = await response.text();
    } catch (err) {
      const timedOut = signal.aborted;
      return classifyFailure({
        status: null,
        message: timedOut ? `no answer within ${options.timeoutMs} ms` : describeFetchError(err),
        timedOut,
      });
    }

    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok || (body as { success?: unknown } | undefined)?.success === false) {
      const error = (body as { error?: { code?: unknown; message?: unknown } | string; message?: unknown } | undefined)?.error;
      const nested = typeof error === 'object' && error !== null ? error : undefined;
      const message =
        nested?.message ?? (typeof error === 'string' ? error : undefined) ?? (body as { message?: unknown } | undefined)?.message;
      return classifyFailure({
        status: response.status,
        code: typeof nested?.code === 'string' ? nested.code : undefined,
        message: typeof message === 'string' ? message : `HTTP ${response.status} ${response.statusText}`.trim(),
        headers: response.headers,
        body: body ?? text.slice(0, 500),
      });
    }
    const emailId = emailIdOf(body);
    if (!emailId) return acceptedWithoutId('Autosend', body ?? text.slice(0, 500));
    return { kind: 'sent', providerMessageId: emailId, rateLimit: parseRateLimit(response.headers) };
  }

  const parseWebhook: WebhookParser['parseWebhook'] = (rawBody, headers, request) => {
    if (!webhook) throw new NotConfiguredError('Set AUTOSEND_WEBHOOK_SECRET to the signing secret of your Autosend webhook');
    return webhook.parseWebhook(rawBody, headers, request);
  };

  return { name: 'autosend', channel: 'email', send, parseWebhook };
}
