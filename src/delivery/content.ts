import { redactDigitRuns, redactSecrets } from '../lib/redact';

/** What a worker needs to send a message; stored in clear only while it can still be sent. */
export interface EmailContent {
  channel: 'email';
  subject: string;
  html?: string;
  text?: string;
  /** Clerk's `from_email_name`: the local part of the From address. */
  fromLocalPart?: string;
  replyToLocalPart?: string;
  /** Display name fallback when EMAIL_FROM_NAME is unset (Clerk's app name). */
  appName?: string;
}

export interface SmsContent {
  channel: 'sms';
  body: string;
  /** Sent instead if this SMS ends `failed` (e.g. a verification code by email); never part of the redacted copy. */
  fallback?: FallbackMessage;
}

/** A message rendered up front and held in this one's clear payload, so it lives and dies with it. */
export interface FallbackMessage {
  recipient: string;
  template: string | null;
  payload: EmailContent;
  secrets: string[];
}

export type MessagePayload = EmailContent | SmsContent;

/**
 * The copy kept for display: every known secret (code, magic link) replaced; when a code-bearing message
 * came without its code (Clerk SMS), any 4–8 digit run is taken for it.
 */
export function redactPayload(payload: MessagePayload, secrets: readonly string[], codeBearing: boolean): MessagePayload {
  const redact = (s: string | undefined): string | undefined => {
    if (s === undefined) return undefined;
    const known = redactSecrets(s, secrets);
    return codeBearing && secrets.length === 0 ? redactDigitRuns(known) : known;
  };
  if (payload.channel === 'sms') return { channel: 'sms', body: redact(payload.body)! };
  return { ...payload, subject: redact(payload.subject)!, html: redact(payload.html), text: redact(payload.text) };
}

/** A recipient, once normalized, is one of these. */
export const EMAIL_ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const E164_NUMBER = /^\+[1-9]\d{6,14}$/;

/**
 * The one form a recipient is stored, searched and suppressed in: email lower-cased (with its domain, for
 * per-domain stats), phone numbers without the spaces, dashes and brackets people write them with.
 */
export function normalizeRecipient(channel: 'email' | 'sms', recipient: string): { recipient: string; domain: string | null } {
  const trimmed = recipient.trim();
  if (channel === 'sms') return { recipient: trimmed.replace(/[\s().-]/g, ''), domain: null };
  const lower = trimmed.toLowerCase();
  const at = lower.lastIndexOf('@');
  return { recipient: lower, domain: at > 0 ? lower.slice(at + 1) : null };
}
