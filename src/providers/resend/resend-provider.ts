import { Resend } from 'resend';
import { NotConfiguredError } from '../../lib/errors';
import { acceptedWithoutId, classifyFailure, missingApiKeyError, missingFromError, parseRateLimit, refused } from '../error-policy';
import type { EmailProvider, OutgoingEmail, ProviderOutcome, WebhookParser } from '../types';
import { createResendWebhookParser } from './resend-webhook';

export interface ResendProviderOptions {
  /** RESEND_API_KEY; unset where Resend only reports events (not in EMAIL_PROVIDERS, or no longer). */
  apiKey?: string;
  /** RESEND_BASE_URL; passed to the SDK per instance (it reads the variable itself only at import time). */
  baseUrl: string;
  /** A provider that does not answer costs at most this long. */
  timeoutMs: number;
  /** RESEND_WEBHOOK_SECRET; unset, `/webhooks/resend` answers 503 saying to set it. */
  webhookSecret?: string;
}

/**
 * Resend: `send` through its SDK, `parseWebhook` for its Svix-signed delivery events. The SDK never throws
 * and never retries: it resolves `{data, error, headers}`, and a network failure or our timeout comes back as
 * `application_error` with `statusCode: null`. Retries belong to the delivery service, with the same
 * idempotency key, so Resend sends each message once.
 */
export function createResendProvider(options: ResendProviderOptions): EmailProvider & WebhookParser {
  const client = options.apiKey ? new Resend(options.apiKey, { baseUrl: options.baseUrl }) : null;
  const webhook = options.webhookSecret ? createResendWebhookParser(options.webhookSecret) : null;

  async function send(message: OutgoingEmail): Promise<ProviderOutcome> {
    if (!client) return missingApiKeyError('RESEND_API_KEY');
    if (!message.from) return missingFromError();
    const body =
      message.html !== undefined
        ? { html: message.html, ...(message.text !== undefined ? { text: message.text } : {}) }
        : message.text !== undefined
          ? { text: message.text }
          : undefined;
    if (!body) return refused('the message has neither an HTML nor a text body', 'empty_body');

    const signal = AbortSignal.timeout(options.timeoutMs);
    const { data, error, headers } = await client.emails.send(
      {
        from: message.from,
        to: message.to,
        subject: message.subject,
        ...body,
        headers: message.headers,
        tags: message.tags,
        ...(message.replyTo ? { replyTo: message.replyTo } : {}),
      },
      { idempotencyKey: message.idempotencyKey, signal },
    );
    if (error) {
      const timedOut = signal.aborted;
      return classifyFailure({
        status: error.statusCode,
        code: error.name,
        message: timedOut ? `no answer within ${options.timeoutMs} ms` : error.message,
        timedOut,
        headers,
        body: error,
      });
    }
    if (!data?.id) return acceptedWithoutId('Resend', data);
    return { kind: 'sent', providerMessageId: data.id, rateLimit: parseRateLimit(headers) };
  }

  const parseWebhook: WebhookParser['parseWebhook'] = (rawBody, headers, request) => {
    if (!webhook) throw new NotConfiguredError('Set RESEND_WEBHOOK_SECRET to the whsec_… signing secret of your Resend webhook');
    return webhook.parseWebhook(rawBody, headers, request);
  };

  return { name: 'resend', channel: 'email', send, parseWebhook };
}
