import type { Db } from '../../src/db/prisma';
import type { Prisma } from '../../src/generated/prisma/client';
import { newId } from '../../src/lib/ids';

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
          redacted: (redacted ?? { channel: 'email', subject: '[redacted] is your verification code', text: 'Your code is [redacted]' }) as never,
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
