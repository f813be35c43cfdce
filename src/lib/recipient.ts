import { domainToASCII } from 'node:url';
import { z } from 'zod';

/**
 * The one form a recipient is stored, searched, suppressed and sent to in, and the one pattern it must then
 * match. Every way in (Clerk, Supabase, /v1, verifications, suppressions, lookups) goes through here, so an
 * address cannot be written in a second spelling that slips past a suppression of the first.
 */

export type RecipientChannel = 'email' | 'sms';

/** A normalized email address: no whitespace or RFC 5322 specials outside the @, a domain with a dot. */
export const EMAIL_ADDRESS = /^[^\s\p{Cc}@<>()[\]\\,;:"]+@(?:[^\s\p{Cc}@<>()[\]\\,;:".]+\.)+[^\s\p{Cc}@<>()[\]\\,;:".]+$/u;
/** RFC 5321's limit on a forward path, less its angle brackets. */
const MAX_EMAIL_LENGTH = 254;
export const E164_NUMBER = /^\+[1-9]\d{6,14}$/;

/** Invisible in a mail client or on a phone: zero-width spaces and joiners, soft hyphens, BOMs, bidi marks. */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/** Domains repeat (most addresses are at a few providers): their ASCII forms, bounded, cleared when full. */
const asciiDomains = new Map<string, string>();
const ASCII_DOMAINS_KEPT = 1_000;

function asciiDomain(domain: string): string {
  let ascii = asciiDomains.get(domain);
  if (ascii === undefined) {
    if (asciiDomains.size >= ASCII_DOMAINS_KEPT) asciiDomains.clear();
    asciiDomains.set(domain, (ascii = domainToASCII(domain) || domain));
  }
  return ascii;
}

/**
 * NFKC (a fullwidth `ｘ＠ｅｘａｍｐｌｅ．ｏｒｇ` is `x@example.org`), without invisible characters, the domain in
 * its ASCII form (IDNA: `bücher.de` is `xn--bcher-kva.de`) and without the trailing dot of a fully qualified
 * name. The local part is lower-cased as well: RFC 5321 lets a server tell `X@` from `x@`, but mailbox providers
 * do not, and a suppression (a complaint) must not be undone by a capital letter.
 */
export function normalizeEmail(raw: string): string {
  const address = raw.normalize('NFKC').replace(INVISIBLE, '').trim();
  const at = address.lastIndexOf('@');
  if (at < 0) return address.toLowerCase();
  const domain = address
    .slice(at + 1)
    .toLowerCase()
    .replace(/\.+$/, '');
  return `${address.slice(0, at).toLowerCase()}@${asciiDomain(domain)}`;
}

/** Phone numbers without the spaces, dashes and brackets people write them with (and fullwidth digits as ASCII). */
export const normalizePhone = (raw: string): string =>
  raw
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .replace(/[\s().-]/g, '');

export function normalizeRecipient(channel: RecipientChannel, raw: string): { recipient: string; domain: string | null } {
  if (channel === 'sms') return { recipient: normalizePhone(raw), domain: null };
  const recipient = normalizeEmail(raw);
  const at = recipient.lastIndexOf('@');
  return { recipient, domain: at > 0 ? recipient.slice(at + 1) : null };
}

/** The address a provider's event names, in the form messages and suppressions keep (null when it names none). */
export const reportedRecipient = (raw: string | null | undefined): string | null => (raw ? normalizeEmail(raw) : null);

/** The address in a From-style mailbox, `auth@acme.com` or `Acme <auth@acme.com>`, as written. */
export const mailboxAddress = (mailbox: string): string => (/<([^<>]*)>\s*$/.exec(mailbox)?.[1] ?? mailbox).trim();

/** A recipient typed without saying which channel (a lookup): an address if it has an @. */
export const normalizeAnyRecipient = (raw: string): string => normalizeRecipient(raw.includes('@') ? 'email' : 'sms', raw).recipient;

/** Whether a normalized recipient is one we can send to on the channel (RECIPIENT_EXPECTED says what that is). */
export const isRecipient = (channel: RecipientChannel, normalized: string): boolean =>
  channel === 'sms' ? E164_NUMBER.test(normalized) : normalized.length <= MAX_EMAIL_LENGTH && EMAIL_ADDRESS.test(normalized);

export const RECIPIENT_EXPECTED: Record<RecipientChannel, string> = {
  email: 'must be an email address',
  sms: 'must be an E.164 phone number such as +447700900123',
};

const recipientSchema = (channel: RecipientChannel) =>
  z
    .string()
    .transform((raw) => normalizeRecipient(channel, raw).recipient)
    .refine((normalized) => isRecipient(channel, normalized), RECIPIENT_EXPECTED[channel]);

/** The recipient fields of every payload we parse: the value comes out normalized. */
export const EmailAddress = recipientSchema('email');
export const PhoneNumber = recipientSchema('sms');
