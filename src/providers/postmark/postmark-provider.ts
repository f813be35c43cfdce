import type * as PostmarkSdk from 'postmark';
import { NotConfiguredError } from '../../lib/errors';
import { acceptedWithoutId, classifyFailure, missingApiKeyError, missingFromError, refused } from '../error-policy';
import type { EmailProvider, OutgoingEmail, ProviderFailure, ProviderOutcome, WebhookParser } from '../types';
import { createPostmarkWebhookParser } from './postmark-webhook';

export interface PostmarkProviderOptions {
  serverToken?: string;
  /** POSTMARK_MESSAGE_STREAM: the transactional stream the server sends on. */
  messageStream: string;
  /** POSTMARK_API_URL: scheme and host the SDK sends to. */
  apiUrl: string;
  timeoutMs: number;
  /** POSTMARK_WEBHOOK_USER / POSTMARK_WEBHOOK_PASSWORD: the basic-auth credentials in the webhook URL. */
  webhookUser?: string;
  webhookPassword?: string;
}

/** Postmark API error codes (postmarkapp.com/developer/api/overview#error-codes) carried in a 422. */
const INACTIVE_RECIPIENT = 406;
/** Our sender or account is refused on this server: another provider can send. */
const SENDER_REFUSED = new Set([10, 400, 401, 405, 412]); // bad token, no/unconfirmed sender signature, not allowed to send, pending approval

function classifyPostmarkError(err: unknown, timeoutMs: number): ProviderFailure {
  const { message, code, statusCode } = err as { message?: string; code?: number; statusCode?: number };
  const text = message ?? String(err);
  const raw = { ErrorCode: code ?? null, Message: text, status: statusCode ?? null };
  if (!statusCode) {
    // The SDK folds a network failure or its timeout into an error without status; its timeout is AbortSignal's.
    const timedOut = /due to timeout/i.test(text);
    return classifyFailure({ status: null, message: timedOut ? `no answer within ${timeoutMs} ms` : text, timedOut });
  }
  if (code === INACTIVE_RECIPIENT) {
    return {
      kind: 'failed',
      message: `Postmark: inactive recipient: ${text}`,
      status: statusCode,
      code: String(code),
      raw,
      suppress: 'hard_bounce',
    };
  }
  if (code !== undefined && SENDER_REFUSED.has(code)) {
    return { kind: 'fail_over', message: text, status: statusCode, code: String(code), raw };
  }
  return classifyFailure({ status: statusCode, code: code !== undefined ? String(code) : undefined, message: text, body: raw });
}

/** The SDK's options for POSTMARK_API_URL (it takes a host and a scheme flag, not a URL) and a timeout in seconds. */
export function postmarkClientOptions(apiUrl: string, timeoutMs: number): { useHttps: boolean; requestHost: string; timeout: number } {
  const api = new URL(apiUrl);
  return { useHttps: api.protocol === 'https:', requestHost: api.host, timeout: Math.max(1, Math.ceil(timeoutMs / 1000)) };
}

/**
 * Postmark through its SDK's ServerClient (`POST /email` with X-Postmark-Server-Token), and `parseWebhook`
 * for its webhooks, which Postmark does not sign: they are checked by the basic-auth credentials put in the
 * webhook URL. Postmark takes no idempotency key; the SDK does not retry.
 */
export function createPostmarkProvider(options: PostmarkProviderOptions): EmailProvider & WebhookParser {
  // The SDK is loaded only when Postmark is configured: an idle API process does not carry it.
  const client = options.serverToken
    ? new (require('postmark') as typeof PostmarkSdk).ServerClient(
        options.serverToken,
        postmarkClientOptions(options.apiUrl, options.timeoutMs),
      )
    : null;
  const webhook =
    options.webhookUser && options.webhookPassword ? createPostmarkWebhookParser(options.webhookUser, options.webhookPassword) : null;

  async function send(message: OutgoingEmail): Promise<ProviderOutcome> {
    if (!client) return missingApiKeyError('POSTMARK_SERVER_TOKEN');
    if (!message.from) return missingFromError();
    if (message.html === undefined && message.text === undefined) {
      return refused('the message has neither an HTML nor a text body', 'empty_body');
    }
    let response: { MessageID?: string; SubmittedAt?: string };
    try {
      response = await client.sendEmail({
        From: message.from,
        To: message.to,
        Subject: message.subject,
        ...(message.html !== undefined ? { HtmlBody: message.html } : {}),
        ...(message.text !== undefined ? { TextBody: message.text } : {}),
        ...(message.replyTo ? { ReplyTo: message.replyTo } : {}),
        Headers: Object.entries(message.headers).map(([Name, Value]) => ({ Name, Value })),
        Metadata: Object.fromEntries(message.tags.map((t) => [t.name, t.value])),
        MessageStream: options.messageStream,
      });
    } catch (err) {
      return classifyPostmarkError(err, options.timeoutMs);
    }
    if (!response.MessageID) return acceptedWithoutId('Postmark', response);
    return { kind: 'sent', providerMessageId: response.MessageID, detail: { submitted_at: response.SubmittedAt ?? null } };
  }

  const parseWebhook: WebhookParser['parseWebhook'] = (rawBody, headers, request) => {
    if (!webhook)
      throw new NotConfiguredError('Set POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD, and put them in your Postmark webhook URL');
    return webhook.parseWebhook(rawBody, headers, request);
  };

  return { name: 'postmark', channel: 'email', send, parseWebhook };
}
