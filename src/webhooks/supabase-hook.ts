import { z } from 'zod';
import type { MessagePayload } from '../delivery/content';
import type { NewMessage } from '../delivery/message-service';
import { ValidationError } from '../lib/errors';
import { shortHash } from '../lib/ids';
import { parseOrThrow } from '../lib/json';
import { isRecipient, normalizePhone, normalizeRecipient } from '../lib/recipient';
import type { Templates } from '../templates/templates';

/**
 * Supabase Auth's Send Email and Send SMS hooks (anchors.md §4), parsed tolerantly: GoTrue adds fields.
 * Each payload becomes the messages to send (two for a secure email change).
 */

const User = z.looseObject({
  id: z.string().min(1),
  email: z.string().nullish(),
  new_email: z.string().nullish(),
  phone: z.string().nullish(),
});

const Metadata = z.looseObject({ uuid: z.string().min(1).optional() }).nullish();

const text = z
  .string()
  .nullish()
  .transform((s) => s ?? '');

const SendEmail = z.looseObject({
  metadata: Metadata,
  user: User,
  email_data: z.looseObject({
    token: text,
    token_hash: text,
    redirect_to: text,
    email_action_type: z.string().min(1),
    site_url: text,
    token_new: text,
    token_hash_new: text,
    old_email: text,
  }),
});

const SendSms = z.looseObject({
  metadata: Metadata,
  user: User,
  sms: z.looseObject({ otp: z.string().min(1), sms_type: z.string().optional(), phone: z.string().optional() }),
});

/** Actions whose email carries a link to GoTrue's /verify as well as the code. */
const LINK_ACTIONS = new Set(['signup', 'invite', 'magiclink', 'recovery', 'email_change']);
const CODE_ONLY_ACTIONS = new Set(['email', 'reauthentication']);

export type SupabaseMessage = Omit<NewMessage, 'maxAgeSeconds'>;

export interface SupabaseHookContext {
  /** The verified `webhook-id` and `webhook-timestamp` (seconds). */
  webhookId: string;
  timestamp: number;
}

/** `{site_url}/auth/v1/verify?token={token_hash}&type={action}&redirect_to=…`, as Supabase documents it. */
export function verifyLink(siteUrl: string, tokenHash: string, action: string, redirectTo: string): string {
  const base = siteUrl.replace(/\/+$/, '').replace(/\/auth\/v1$/, '');
  const query = new URLSearchParams({ token: tokenHash, type: action, redirect_to: redirectTo });
  return `${base}/auth/v1/verify?${query.toString()}`;
}

/**
 * metadata.uuid is one per logical event, stable across GoTrue's retries; older payloads lack it, and GoTrue
 * gives every attempt a new webhook-id, so their key is a hash of what the event is about. It is keyed by no
 * secret: SUPABASE_HOOK_SECRET rotates (and instances mid-deploy hold different lists), and a key that changes
 * between two attempts of one event sends its code twice. Hashed, so no code or token hash is stored in clear;
 * a key would also stop a reader of the table from trying every 6-digit code against it, but that reader sees
 * a queued message's code in its payload anyway, so a key would guard a code only between its send and its
 * expiry, at the price of a second code (or none) on every rotation.
 */
function dedupeBase(metadataUuid: string | undefined, parts: string[]): string {
  if (metadataUuid) return `supabase:${metadataUuid}`;
  return `supabase:h_${shortHash(parts.join('\u0000'))}`;
}

/** Supabase stores phones without the leading `+`. */
function toE164(phone: string): string {
  const compact = normalizePhone(phone);
  return compact.startsWith('+') ? compact : `+${compact}`;
}

const receivedDetail = (ctx: SupabaseHookContext, hook: string, extra: Record<string, unknown> = {}) => ({
  webhook_id: ctx.webhookId,
  hook,
  ...extra,
});

function smsMessage(body: unknown, ctx: SupabaseHookContext, templates: Templates): SupabaseMessage {
  const event = parseOrThrow(SendSms, body, 'Malformed Supabase hook payload');
  const phone = toE164(event.sms.phone || event.user.phone || '');
  if (!isRecipient('sms', phone))
    throw new ValidationError('Malformed Supabase hook payload: no E.164 phone number in sms.phone or user.phone');
  const payload: MessagePayload = { channel: 'sms', body: templates.sms(['supabase_sms'], { token: event.sms.otp }) };
  return {
    source: 'supabase',
    externalId: dedupeBase(event.metadata?.uuid, [event.user.id, 'sms', phone, event.sms.otp]),
    template: 'supabase_sms',
    recipient: phone,
    userId: event.user.id,
    payload,
    secrets: [event.sms.otp],
    codeBearing: true,
    issuedAt: new Date(ctx.timestamp * 1000),
    receivedDetail: receivedDetail(ctx, 'send_sms', { sms_type: event.sms.sms_type ?? null }),
  };
}

export function interpretSupabaseHook(body: unknown, ctx: SupabaseHookContext, templates: Templates): SupabaseMessage[] {
  if (body && typeof body === 'object' && 'sms' in body) return [smsMessage(body, ctx, templates)];

  const issuedAt = new Date(ctx.timestamp * 1000);
  const event = parseOrThrow(SendEmail, body, 'Malformed Supabase hook payload');
  const data = event.email_data;
  const action = data.email_action_type;
  const user = event.user;
  const base = dedupeBase(event.metadata?.uuid, [user.id, action, data.token_hash, data.token_hash_new]);

  const message = (opts: {
    suffix: string;
    to: string | null | undefined;
    template: string;
    token: string;
    tokenHash: string;
  }): SupabaseMessage => {
    if (!opts.to || !isRecipient('email', normalizeRecipient('email', opts.to).recipient)) {
      throw new ValidationError(`Malformed Supabase hook payload: no email address to send the ${action} email to`);
    }
    const link = opts.tokenHash && LINK_ACTIONS.has(action) ? verifyLink(data.site_url, opts.tokenHash, action, data.redirect_to) : '';
    const rendered = templates.email([opts.template], {
      token: opts.token,
      link,
      email: user.email ?? '',
      new_email: user.new_email ?? user.email ?? '',
    });
    const secrets = [opts.token, opts.tokenHash, link].filter((s) => s.length > 0);
    return {
      source: 'supabase',
      externalId: `${base}${opts.suffix}`,
      template: opts.template,
      recipient: opts.to,
      userId: user.id,
      payload: { channel: 'email', ...rendered },
      secrets,
      codeBearing: secrets.length > 0,
      issuedAt,
      receivedDetail: receivedDetail(ctx, 'send_email', { email_action_type: action }),
    };
  };

  if (action === 'email_change') {
    // Secure email change: both addresses confirm. The field names are swapped for historical reasons:
    // the current address gets `token` with `token_hash_new`, the new address `token_new` with `token_hash`.
    if (data.token_hash_new) {
      return [
        message({
          suffix: ':current',
          to: user.email,
          template: 'supabase_email_change_current',
          token: data.token,
          tokenHash: data.token_hash_new,
        }),
        message({
          suffix: ':new',
          to: user.new_email,
          template: 'supabase_email_change_new',
          token: data.token_new,
          tokenHash: data.token_hash,
        }),
      ];
    }
    // Without secure change only the new address confirms. GoTrue puts its code in `token` (releases before
    // that left `token` empty); should a payload carry it in `token_new` alone, that is the code to send.
    const token = data.token || data.token_new;
    return [message({ suffix: ':new', to: user.new_email, template: 'supabase_email_change_new', token, tokenHash: data.token_hash })];
  }
  if (LINK_ACTIONS.has(action) || CODE_ONLY_ACTIONS.has(action)) {
    return [message({ suffix: '', to: user.email, template: `supabase_${action}`, token: data.token, tokenHash: data.token_hash })];
  }
  if (action.endsWith('_notification') && templates.has(`supabase_${action}`)) {
    // The "email changed" notice belongs in the old mailbox: the new one is the one that just took over.
    const to = action === 'email_changed_notification' && data.old_email ? data.old_email : user.email;
    return [message({ suffix: '', to, template: `supabase_${action}`, token: '', tokenHash: '' })];
  }
  if (data.token) {
    // An action GoTrue added after this was written: still deliver its code.
    return [message({ suffix: '', to: user.email, template: 'supabase_email', token: data.token, tokenHash: data.token_hash })];
  }
  return [];
}
