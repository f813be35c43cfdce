import { z } from 'zod';
import type { EmailContent, SmsContent } from '../delivery/content';
import type { NewMessage } from '../delivery/message-service';
import { ValidationError } from '../lib/errors';
import { parseOrThrow } from '../lib/json';
import { EmailAddress, PhoneNumber } from '../lib/recipient';

/**
 * Clerk's `email.created` / `sms.created` (see clerk.md): parsed tolerantly, since Clerk adds fields and
 * slugs without notice. Only what we need to deliver is required.
 */

/** Just enough to route the event: other event types are acknowledged without looking further. */
const EventType = z.looseObject({ type: z.string(), data: z.unknown() });

const Envelope = z.looseObject({
  type: z.string(),
  data: z.looseObject({ delivered_by_clerk: z.boolean() }),
  timestamp: z.number().optional(),
  instance_id: z.string().optional(),
});

const TemplateData = z.record(z.string(), z.unknown()).nullish();

const EmailData = z.looseObject({
  id: z.string().min(1),
  slug: z.string().nullish(),
  from_email_name: z.string().nullish(),
  reply_to_email_name: z.string().nullish(),
  to_email_address: EmailAddress,
  user_id: z.string().nullish(),
  subject: z.string().min(1),
  body: z.string().nullish(),
  body_plain: z.string().nullish(),
  data: TemplateData,
});

const SmsData = z.looseObject({
  id: z.string().min(1),
  slug: z.string().nullish(),
  to_phone_number: PhoneNumber,
  user_id: z.string().nullish(),
  message: z.string().min(1),
  data: TemplateData,
});

/** Templates that carry a one-time code or a sign-in link: useless once expired, secret until then. */
const CODE_BEARING_SLUGS = new Set([
  'verification_code',
  'reset_password_code',
  'magic_link_sign_in',
  'magic_link_sign_up',
  'magic_link_user_profile',
]);

/** Sign-in links and invitation tickets: bearer credentials, kept out of the log whether or not a code is. */
const LINK_KEYS = ['magic_link', 'action_url'];

export type ClerkEventOutcome = { kind: 'ignored'; reason: string } | { kind: 'deliver'; message: Omit<NewMessage, 'maxAgeSeconds'> };

const parseClerk = <T>(schema: z.ZodType<T>, value: unknown, at: string): T => parseOrThrow(schema, value, 'Malformed Clerk event', at);

/** Clerk documents `timestamp` in ms but its examples use seconds; accept both. */
function issuedAt(timestamp: number | undefined): Date | undefined {
  if (timestamp === undefined || !Number.isFinite(timestamp) || timestamp <= 0) return undefined;
  return new Date(timestamp < 1e12 ? timestamp * 1000 : timestamp);
}

function secretsIn(data: Record<string, unknown> | null | undefined): string[] {
  if (!data) return [];
  const secrets: string[] = [];
  if (typeof data.otp_code === 'string') secrets.push(data.otp_code);
  for (const key of LINK_KEYS) if (typeof data[key] === 'string') secrets.push(data[key] as string);
  return secrets;
}

export function interpretClerkEvent(body: unknown, svixId: string): ClerkEventOutcome {
  const envelope = parseClerk(EventType, body, 'event');
  if (envelope.type !== 'email.created' && envelope.type !== 'sms.created') {
    return { kind: 'ignored', reason: `event type ${envelope.type} is not delivered by auth-relay` };
  }
  const event = parseClerk(Envelope, body, 'event');
  if (event.data.delivered_by_clerk) return { kind: 'ignored', reason: 'delivered by Clerk' };

  const common = {
    source: 'clerk' as const,
    issuedAt: issuedAt(event.timestamp),
    receivedDetail: { svix_id: svixId, event_type: event.type, instance_id: event.instance_id ?? null },
  };
  if (event.type === 'email.created') {
    const data = parseClerk(EmailData, event.data, 'data');
    if (!data.body && !data.body_plain) throw new ValidationError('Malformed Clerk event: data.body and data.body_plain are both empty');
    const template = data.slug ?? null;
    const codeBearing = (template !== null && CODE_BEARING_SLUGS.has(template)) || typeof data.data?.otp_code === 'string';
    const app = data.data?.app as { name?: unknown } | undefined;
    const payload: EmailContent = {
      channel: 'email',
      subject: data.subject,
      html: data.body ?? undefined,
      text: data.body_plain ?? undefined,
      fromLocalPart: data.from_email_name ?? undefined,
      replyToLocalPart: data.reply_to_email_name ?? undefined,
      appName: typeof app?.name === 'string' ? app.name : undefined,
    };
    return {
      kind: 'deliver',
      message: {
        ...common,
        externalId: data.id,
        template,
        recipient: data.to_email_address,
        userId: data.user_id ?? null,
        payload,
        secrets: secretsIn(data.data),
        codeBearing,
      },
    };
  }

  const data = parseClerk(SmsData, event.data, 'data');
  const template = data.slug ?? null;
  const codeBearing = template === 'verification_code' || typeof data.data?.otp_code === 'string';
  const payload: SmsContent = { channel: 'sms', body: data.message };
  return {
    kind: 'deliver',
    message: {
      ...common,
      externalId: data.id,
      template,
      recipient: data.to_phone_number,
      userId: data.user_id ?? null,
      payload,
      secrets: secretsIn(data.data),
      codeBearing,
    },
  };
}
