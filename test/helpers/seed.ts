import type { Db } from '../../src/db/prisma';
import { newId } from '../../src/lib/ids';
import type { Prisma } from '../../src/generated/prisma/client';
import type { MessageStatus } from '../../src/generated/prisma/enums';

export interface SeedOptions {
  count: number;
  provider?: string;
  domain?: string;
  channel?: 'email' | 'sms';
  outcome?: 'delivered' | 'hard_bounce' | 'soft_bounce' | 'complaint' | 'queued';
  /** When the messages were accepted (default: a minute ago). */
  createdAt?: Date;
  sendMs?: number;
  deliverMs?: number;
}

/** Inserts messages (and their provider events) as the pipeline would have left them. */
export async function seedMessages(db: Db, opts: SeedOptions): Promise<string[]> {
  const createdAt = opts.createdAt ?? new Date(Date.now() - 60_000);
  const sentAt = new Date(createdAt.getTime() + (opts.sendMs ?? 1_000));
  const outcome = opts.outcome ?? 'delivered';
  const domain = opts.domain ?? 'example.com';
  const ids = Array.from({ length: opts.count }, () => newId('msg'));
  const status = { delivered: 'delivered', hard_bounce: 'bounced', soft_bounce: 'bounced', complaint: 'complained', queued: 'queued' }[
    outcome
  ];
  const sent = outcome !== 'queued';
  await db.message.createMany({
    data: ids.map((id, i) => ({
      id,
      source: 'api' as const,
      channel: opts.channel ?? 'email',
      recipient: opts.channel === 'sms' ? `+1555000${String(i).padStart(4, '0')}` : `r${i}-${id.slice(-6).toLowerCase()}@${domain}`,
      recipientDomain: opts.channel === 'sms' ? null : domain,
      provider: sent ? (opts.provider ?? 'resend') : null,
      providerMessageId: sent ? `pm_${id}` : null,
      status: status as 'delivered',
      createdAt,
      sentAt: sent ? sentAt : null,
      deliveredAt: outcome === 'delivered' || outcome === 'complaint' ? new Date(sentAt.getTime() + (opts.deliverMs ?? 2_000)) : null,
    })),
  });
  const eventType = { hard_bounce: 'bounced', soft_bounce: 'bounced', complaint: 'complained', delivered: null, queued: null }[outcome];
  if (eventType) {
    await db.messageEvent.createMany({
      data: ids.map((messageId) => ({
        messageId,
        type: eventType,
        provider: opts.provider ?? 'resend',
        detail: eventType === 'bounced' ? { bounce_kind: outcome === 'hard_bounce' ? 'hard' : 'soft' } : {},
      })),
    });
  }
  return ids;
}

export interface SeedEvent {
  type: string;
  at?: Date;
  provider?: string | null;
  detail?: Record<string, unknown>;
}

/** A message as the pipeline would have left it, written straight to the log (for reading-side tests). */
export async function seedMessage(
  db: Db,
  m: Partial<Prisma.MessageUncheckedCreateInput> & { events?: SeedEvent[]; redacted?: unknown; payload?: unknown; headers?: unknown } = {},
): Promise<string> {
  const { events, redacted, payload, headers, ...fields } = m;
  const createdAt = (fields.createdAt as Date | undefined) ?? new Date();
  const id = fields.id ?? newId('msg', createdAt.getTime());
  const recipient = fields.recipient ?? `user-${id.slice(-6).toLowerCase()}@example.com`;
  await db.message.create({
    data: {
      source: 'clerk',
      channel: 'email',
      template: 'verification_code',
      status: 'sent',
      provider: 'resend',
      subject: '[redacted] is your verification code',
      ...fields,
      id,
      recipient,
      recipientDomain: fields.recipientDomain ?? (recipient.includes('@') ? recipient.split('@').pop()! : null),
      createdAt,
      content: {
        create: {
          redacted: (redacted ?? {
            channel: 'email',
            subject: '[redacted] is your verification code',
            text: 'Your code is [redacted]',
          }) as never,
          payload: payload === undefined ? undefined : (payload as never),
          headers: headers === undefined ? undefined : (headers as never),
          createdAt,
        },
      },
      events: {
        create: (events ?? ([{ type: 'received' }] as SeedEvent[])).map((e) => ({
          type: e.type,
          occurredAt: e.at ?? createdAt,
          provider: e.provider ?? null,
          detail: (e.detail ?? {}) as never,
        })),
      },
    },
  });
  return id;
}

/** The content `messageIn` gives its message. */
export const MESSAGE_IN_PAYLOAD = { channel: 'email' as const, subject: 'Your code', html: '<p>1234</p>', text: '1234' };

/** One email message in `status`, with its content, as the message store's tests start from. */
export async function messageIn(
  db: Db,
  status: MessageStatus,
  extra: { provider?: string; leaseUntil?: Date; expiresAt?: Date } = {},
): Promise<string> {
  const id = newId('msg');
  const payload = MESSAGE_IN_PAYLOAD;
  await db.message.create({
    data: {
      id,
      source: 'api',
      channel: 'email',
      recipient: 'user@example.com',
      status,
      provider: extra.provider ?? null,
      leaseUntil: extra.leaseUntil ?? null,
      expiresAt: extra.expiresAt ?? null,
      content: { create: { payload, redacted: payload } },
    },
  });
  return id;
}
