import type { IncomingHttpHeaders } from 'node:http';
import type { Channel } from '../generated/prisma/enums';

/**
 * One adapter per provider behind one interface, Novu-style: `send` delivers one message, `parseWebhook`
 * (where the provider reports delivery events) turns its webhook into our normalized events. Each adapter is
 * built once, in the composition root, and serves both the send chains and the webhook routes. `send`
 * resolves every answer the provider gives as a ProviderOutcome; it rejects only on an adapter bug.
 */
export interface OutgoingEmail {
  messageId: string;
  to: string;
  /** Null when neither EMAIL_FROM nor EMAIL_FROM_DOMAIN gives a usable address. */
  from: string | null;
  replyTo?: string;
  subject: string;
  html?: string;
  text?: string;
  headers: Record<string, string>;
  tags: { name: string; value: string }[];
  /** Stable across retries and processes, so a provider that honours it never sends twice. */
  idempotencyKey: string;
}

export interface OutgoingSms {
  messageId: string;
  to: string;
  body: string;
  idempotencyKey: string;
}

/** What a provider's `ratelimit-*` headers said about its limit, so the sender can adapt to it. */
export interface RateLimitInfo {
  /** Requests allowed per second (`ratelimit-limit` over the `ratelimit-policy` window). */
  perSecond?: number;
  remaining?: number;
  /** Until the window resets. */
  resetMs?: number;
}

/** Why a send-time refusal suppresses the recipient, in the suppression list's words. */
export type SendTimeSuppression = 'hard_bounce' | 'complaint';

/** What the provider answered besides the verdict, kept on the timeline. */
export interface FailureDetail {
  message: string;
  /** HTTP status (or SMTP reply code); null when no answer came. */
  status: number | null;
  code?: string;
  /** The provider's raw answer. */
  raw?: unknown;
  rateLimit?: RateLimitInfo;
}

/**
 * What one send at one provider came to, as every adapter reports it (classified by error-policy.ts) and
 * the send decision (src/delivery/send-decision.ts) consumes:
 *  - `sent`: the provider took it and named its id;
 *  - `retry`: a transient failure (5xx, timeout, network); `unanswered` when no answer came after the
 *    request may have reached the provider, which may then hold the message;
 *  - `rate_limited`: the whole provider is limited (429): it is paused, the message waits or moves on;
 *  - `pending`: the provider already holds this message (same idempotency key still in flight): only it may
 *    be asked again;
 *  - `fail_over`: this provider cannot send it (key, quota, sender refused), another may;
 *  - `failed`: no provider would (validation): the message fails, and `suppress` the recipient if set.
 */
export type ProviderOutcome =
  | {
      kind: 'sent';
      providerMessageId: string;
      /** The provider's answer, kept on the timeline. */ detail?: Record<string, unknown>;
      rateLimit?: RateLimitInfo;
    }
  | ({ kind: 'retry'; retryAfterMs?: number; unanswered: boolean } & FailureDetail)
  | ({ kind: 'rate_limited'; retryAfterMs?: number } & FailureDetail)
  | ({ kind: 'pending'; retryAfterMs?: number } & FailureDetail)
  | ({ kind: 'fail_over' } & FailureDetail)
  | ({ kind: 'failed'; suppress?: SendTimeSuppression } & FailureDetail);

export type ProviderFailure = Exclude<ProviderOutcome, { kind: 'sent' }>;
export type SentOutcome = Extract<ProviderOutcome, { kind: 'sent' }>;

export interface EmailProvider extends Partial<WebhookParser> {
  readonly name: string;
  readonly channel: Extract<Channel, 'email'>;
  send(message: OutgoingEmail): Promise<ProviderOutcome>;
}

export interface SmsProvider extends Partial<WebhookParser> {
  readonly name: string;
  readonly channel: Extract<Channel, 'sms'>;
  send(message: OutgoingSms): Promise<ProviderOutcome>;
}

export type Provider = EmailProvider | SmsProvider;

/** A provider that reports delivery events by webhook, received at `/webhooks/<name>`. */
export type WebhookProvider = Provider & WebhookParser;

export interface ProviderChains {
  email: EmailProvider[];
  sms: SmsProvider[];
}

/** Delivery events from every provider's webhook, in one vocabulary (see src/deliverability/provider-events.ts). */
export type ProviderEventType =
  'sent' | 'delivered' | 'delivery_delayed' | 'bounced' | 'complained' | 'failed' | 'suppressed' | 'opened' | 'clicked' | 'unknown';

export interface BounceDetail {
  /** `hard` (permanent: suppress the address) or `soft` (transient or undetermined). */
  kind: 'hard' | 'soft';
  /** The provider's own words, e.g. Resend `Permanent` / `General`. */
  type: string | null;
  subType: string | null;
  diagnostic: string | null;
}

export interface ProviderWebhookEvent {
  provider: string;
  /** The provider's id for this delivery, the same on its retries: the dedupe key. */
  eventId: string;
  /** The provider's event type as sent, e.g. `email.bounced`. */
  providerType: string;
  type: ProviderEventType;
  occurredAt: Date;
  /** The join to our message: the id the provider returned on send, and our id if it came back in tags. */
  providerMessageId: string | null;
  messageId: string | null;
  recipient: string | null;
  bounce?: BounceDetail;
  /** The provider's reason where there is one (failure reason, suppression reason). */
  detail: Record<string, unknown>;
  /** The verified body, kept for the record, without anything secret (subjects carry codes). */
  raw: unknown;
}

/**
 * The webhook half of a provider adapter: verifies the signature over the raw body and turns the provider's
 * event into ours. Throws UnauthorizedError on a bad signature, ValidationError on a malformed event and
 * NotConfiguredError (503, naming the variable) when the provider's webhook secret is not set.
 */
export interface WebhookParser {
  /**
   * `request.url` is the URL the provider called, as the relay's public address (PUBLIC_URL) plus the path:
   * Twilio signs it. Asynchronous where verifying needs a fetch (SNS certificates); null when the request
   * carried no event to record (an SNS subscription confirmation).
   */
  parseWebhook(
    rawBody: Buffer,
    headers: IncomingHttpHeaders,
    request: WebhookRequest,
  ): ProviderWebhookEvent | null | Promise<ProviderWebhookEvent | null>;
}

export interface WebhookRequest {
  /** The absolute URL the provider posted to (PUBLIC_URL, else the Host header, plus the original path and query). */
  url: string;
}
