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

/**
 * A header holds one line: a CR or LF in a subject or a From name would end it there and start another header
 * (RFC 5322 has no escape for them), so each line break and the indentation after it become one space.
 */
export const singleLine = (text: string): string => text.replace(/[\r\n]+[\t ]*/g, ' ');

const emailOnOneLine = (email: EmailContent): EmailContent => ({
  ...email,
  subject: singleLine(email.subject),
  ...(email.appName !== undefined ? { appName: singleLine(email.appName) } : {}),
});

/** The payload with the text that goes into headers on one line, whichever source wrote it. */
export function withSingleLineHeaders(payload: MessagePayload): MessagePayload {
  if (payload.channel === 'email') return emailOnOneLine(payload);
  return payload.fallback ? { ...payload, fallback: { ...payload.fallback, payload: emailOnOneLine(payload.fallback.payload) } } : payload;
}
