import type * as Nodemailer from 'nodemailer';
import { classifySmtpFailure, missingApiKeyError, missingFromError, refused, type SmtpFailedCall } from '../error-policy';
import type { EmailProvider, OutgoingEmail, ProviderOutcome } from '../types';

export interface SmtpProviderOptions {
  /** SMTP_URL: `smtp://user:pass@host:587` (STARTTLS) or `smtps://user:pass@host:465` (TLS from the start). */
  url?: string;
  /** SMTP_POOL: connections kept open to the server. */
  pool: number;
  /** SMTP_REQUIRE_TLS: refuse a server that does not offer STARTTLS (false only for a local sink such as Mailpit). */
  requireTls: boolean;
  /** PROVIDER_TIMEOUT_MS: how long a connection, greeting or any one reply may take. */
  timeoutMs: number;
}

/** The domain of a From (`Acme <auth@acme.com>` → `acme.com`), for a Message-ID of our own. */
const fromDomain = (from: string): string => /@([^\s<>@]+)>?\s*$/.exec(from)?.[1] ?? 'auth-relay.invalid';

/**
 * SMTP through nodemailer's pool, for any provider that takes SMTP submission (SendGrid, Mailgun, SES SMTP, a
 * local Mailpit). SMTP has no idempotency key: a reply that never comes after the message was sent leaves it
 * unknown whether the server took it, so the window is kept small (pooled connections: no connect or login
 * inside it; one reply timeout) and nodemailer's own requeue of a message whose connection dropped is off,
 * so every retry is the delivery service's, counted and on the timeline. Our message id goes out as
 * `Message-ID` (the same on a retry, so mailbox providers that collapse duplicates by it do) and in
 * `X-Entity-Ref-ID`. The server's answer (`250 2.0.0 Ok: queued as …`) is kept on the timeline.
 */
export function createSmtpProvider(options: SmtpProviderOptions): EmailProvider & { close(): void } {
  const transport = options.url ? buildTransport(options.url, options) : null;

  async function send(message: OutgoingEmail): Promise<ProviderOutcome> {
    if (!transport) return missingApiKeyError('SMTP_URL');
    if (!message.from) return missingFromError();
    if (message.html === undefined && message.text === undefined) {
      return refused('the message has neither an HTML nor a text body', 'empty_body');
    }
    const messageId = `<${message.messageId}@${fromDomain(message.from)}>`;
    try {
      const info = await transport.sendMail({
        from: message.from,
        to: message.to,
        ...(message.replyTo ? { replyTo: message.replyTo } : {}),
        subject: message.subject,
        ...(message.html !== undefined ? { html: message.html } : {}),
        ...(message.text !== undefined ? { text: message.text } : {}),
        messageId,
        headers: { ...message.headers, 'X-Entity-Ref-ID': message.messageId },
      });
      return { kind: 'sent', providerMessageId: info.messageId || messageId, detail: { response: info.response } };
    } catch (err) {
      const failed = err as Partial<SmtpFailedCall> & Error;
      return classifySmtpFailure({
        code: failed.code,
        responseCode: failed.responseCode,
        response: failed.response,
        command: failed.command,
        message: failed.message,
      });
    }
  }

  return { name: 'smtp', channel: 'email', send, close: () => transport?.close() };
}

function buildTransport(url: string, options: SmtpProviderOptions) {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  const user = decodeURIComponent(parsed.username);
  // nodemailer is loaded only when SMTP_URL is set: an idle API process does not carry it.
  return (require('nodemailer') as typeof Nodemailer).createTransport({
    pool: true,
    maxConnections: options.pool,
    // A message whose connection closed mid-send may already be with the server: never resend it unseen.
    maxRequeues: 0,
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure && options.requireTls,
    ignoreTLS: !secure && !options.requireTls,
    ...(user ? { auth: { user, pass: decodeURIComponent(parsed.password) } } : {}),
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  });
}
