import type { MessageStatus } from '../generated/prisma/enums';
import type { ProviderEventType, ProviderOutcome } from '../providers/types';

/**
 * The events on a message's timeline (`message_events`), each type with its own `detail`. The keys are the
 * stored JSON's: the dashboard and the API read them as they are.
 */

/** Why a send run ended a message: its `failed`, `expired` or `suppressed` event. */
export type EndDetail = { reason: string } & Record<string, string | null>;

export interface SendFailedDetail {
  class: 'transient' | 'permanent';
  /** The provider outcome (providers/types.ts) the attempt came to. */
  outcome: Exclude<ProviderOutcome['kind'], 'sent'>;
  status: number | null;
  code: string | null;
  message: string;
  raw: unknown;
  /** No answer came: the provider may hold the message (send-decision.ts waits for it before failing over). */
  unanswered?: true;
  /** A run of the same failure past PROVIDER_ATTEMPTS: how many, and over what time. */
  count?: number;
  first_at?: string;
  last_at?: string;
}

export interface SkipDetail {
  reason: string;
  retry_in_ms: number;
  count: number;
  first_at: string;
  last_at: string;
}

/** A provider's report as recorded: its ids, the bounce if any, the provider's own detail, and our notes. */
export type ProviderReportDetail = {
  provider_type: string;
  provider_event_id: string;
  provider_message_id: string | null;
  bounce_kind?: 'hard' | 'soft';
  bounce_type?: string | null;
  bounce_sub_type?: string | null;
  diagnostic?: string | null;
  /** Set when the provider's time preceded ours (a clock off): the timeline shows ours. */
  provider_time?: string;
  provider_time_before?: string;
  /** Set when the event came from a provider that did not send the message: recorded, nothing changed. */
  not_applied?: string;
} & Record<string, unknown>;

export type ReportedType = Exclude<ProviderEventType, 'unknown'>;

export type TimelineEvent =
  | { type: 'received'; detail: Record<string, unknown> }
  | { type: 'queued'; detail: Record<string, never> }
  | { type: 'sent'; provider: string; detail: { provider_message_id: string } & Record<string, unknown> }
  | { type: 'send_failed'; provider: string; detail: SendFailedDetail }
  /** `duplicate_possible`: the provider left behind got no answer to its last try and may still deliver. */
  | { type: 'failover'; provider: string; detail: { from: string; duplicate_possible?: true } }
  | { type: 'provider_skipped'; provider: string; detail: SkipDetail }
  | { type: 'fallback'; detail: { message_id: string; channel: 'email' | 'sms' } }
  | { type: 'failed' | 'expired' | 'suppressed'; detail: EndDetail }
  | { type: 'retried'; detail: { previous_status: MessageStatus; by: 'admin'; generation: number } }
  | { type: 'clerk_writeback'; provider: 'clerk'; detail: { email_status: string } & Record<string, unknown> }
  /** A provider webhook's report; `sent`, `failed` and `suppressed` share a name with our own events. */
  | { type: ReportedType; provider: string; reported: true; detail: ProviderReportDetail };

export interface ProviderReport {
  type: ReportedType;
  provider: string;
  at: Date;
  /** `<provider>:<event id>`: a report recorded twice is refused by the unique index. */
  dedupeKey: string;
  detail: ProviderReportDetail;
  bounceKind?: 'hard' | 'soft';
  /** What went wrong, for `last_error`, when the report is a failure. */
  failure: string | null;
}

/** A committed change to one message: the event appended and the status the message has after it. */
export interface MessageChange {
  messageId: string;
  status: MessageStatus;
  event: TimelineEvent;
  at: Date;
}

/** The statuses a send run may still change; anything else another run (or a provider event) has settled. */
export const IN_FLIGHT: MessageStatus[] = ['queued', 'sending'];

/** How far each status is along a message's life. A provider event never moves a message back. */
const STATUS_RANK: Record<MessageStatus, number> = {
  queued: 0,
  sending: 0,
  expired: 0,
  sent: 1,
  delayed: 2,
  failed: 3,
  delivered: 4,
  suppressed: 5,
  bounced: 5,
  complained: 6,
};

const STATUS_FOR: Partial<Record<ProviderEventType, MessageStatus>> = {
  sent: 'sent',
  delivered: 'delivered',
  delivery_delayed: 'delayed',
  bounced: 'bounced',
  complained: 'complained',
  failed: 'failed',
  suppressed: 'suppressed',
};

/** The status a provider's report moves a message to, if any (opens and clicks move nothing). */
export const statusForReport = (type: ProviderEventType): MessageStatus | undefined => STATUS_FOR[type];

/** Statuses a given status may replace: strictly earlier ones (an expired message was never sent). */
export function statusesBefore(status: MessageStatus): MessageStatus[] {
  return (Object.keys(STATUS_RANK) as MessageStatus[]).filter((s) => STATUS_RANK[s] < STATUS_RANK[status] && s !== 'expired');
}

/**
 * The statuses a report may move a message from. A soft bounce reported after delivery (an asynchronous
 * "mailbox full") is recorded, but the message was delivered and stays so; a hard bounce after delivery does
 * move it on.
 */
export function replaceableBy(type: ProviderEventType, bounceKind: 'hard' | 'soft' | undefined): MessageStatus[] {
  const status = STATUS_FOR[type];
  if (!status) return [];
  return type === 'bounced' && bounceKind !== 'hard' ? statusesBefore('delivered') : statusesBefore(status);
}
