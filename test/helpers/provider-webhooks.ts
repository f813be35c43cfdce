import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../../src/db/prisma';
import { newId } from '../../src/lib/ids';
import { svixHeaders } from './svix';

export const TEST_RESEND_WEBHOOK_SECRET = `whsec_${Buffer.from('resend-test-webhook-secret-32byte').toString('base64')}`;
export const TEST_AUTOSEND_WEBHOOK_SECRET = 'autosend-test-webhook-secret';

const rid = (): string => randomBytes(6).toString('hex');

/** A Resend webhook body (providers.md §2.2–2.4). */
export function resendEvent(type: string, data: Record<string, unknown> = {}, createdAt = new Date()) {
  return {
    type,
    created_at: createdAt.toISOString(),
    data: {
      created_at: createdAt.toISOString(),
      email_id: `re_${rid()}`,
      from: 'Acme <auth@acme.example>',
      to: ['maria@example.com'],
      subject: '482913 is your verification code',
      ...data,
    },
  };
}

export function signedResend(
  event: unknown,
  opts: { id?: string; secret?: string } = {},
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(event);
  return { body, headers: svixHeaders(opts.secret ?? TEST_RESEND_WEBHOOK_SECRET, body, { id: opts.id }) };
}

/** An Autosend webhook body (providers.md §6.2). */
export function autosendEvent(type: string, data: Record<string, unknown> = {}, createdAt = new Date()) {
  return {
    type,
    createdAt: createdAt.toISOString(),
    data: {
      emailId: rid() + rid(),
      from: { email: 'auth@acme.example' },
      to: { email: 'maria@example.com' },
      subject: 'Your code',
      test: false,
      ...data,
    },
  };
}

export function signedAutosend(
  event: unknown,
  opts: { deliveryId?: string; secret?: string; prefix?: boolean } = {},
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(event);
  const hex = createHmac('sha256', opts.secret ?? TEST_AUTOSEND_WEBHOOK_SECRET)
    .update(body)
    .digest('hex');
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-webhook-signature': opts.prefix ? `hmac-sha256=${hex}` : hex,
      'x-webhook-event': (event as { type: string }).type,
      'x-webhook-delivery-id': opts.deliveryId ?? `dlv_${rid()}`,
      'x-webhook-timestamp': String(Date.now()),
    },
  };
}

/** A message a provider has accepted, as the send worker leaves it. */
export async function sentMessage(
  db: Db,
  opts: {
    provider?: string;
    providerMessageId?: string | null;
    recipient?: string;
    userId?: string | null;
    sentAt?: Date;
    status?: 'sent' | 'sending';
  } = {},
) {
  const recipient = opts.recipient ?? `user-${rid()}@example.com`;
  const sentAt = opts.sentAt ?? new Date();
  return db.message.create({
    data: {
      id: newId('msg'),
      source: 'clerk',
      externalId: `ema_${rid()}`,
      channel: 'email',
      template: 'verification_code',
      recipient,
      recipientDomain: recipient.split('@')[1],
      userId: opts.userId === undefined ? `user_${rid()}` : opts.userId,
      provider: opts.provider ?? 'resend',
      providerMessageId: opts.providerMessageId === undefined ? `re_${rid()}` : opts.providerMessageId,
      status: opts.status ?? 'sent',
      createdAt: new Date(sentAt.getTime() - 500),
      sentAt: opts.status === 'sending' ? null : sentAt,
    },
  });
}
