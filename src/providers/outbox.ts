import type { Db } from '../db/prisma';
import type { EmailProvider, OutgoingEmail, OutgoingSms, ProviderOutcome, SmsProvider } from './types';

/**
 * Development provider: sends nothing and keeps the whole message for the dashboard. Keyed by our message
 * id, so a job that runs twice still leaves one message in the outbox.
 */
export function createOutbox(db: Db): { email: EmailProvider; sms: SmsProvider } {
  const store = async (row: {
    messageId: string;
    channel: 'email' | 'sms';
    to: string;
    from?: string | null;
    subject?: string;
    html?: string;
    text?: string;
    headers?: Record<string, string>;
  }): Promise<ProviderOutcome> => {
    await db.outboxMessage.upsert({
      where: { messageId: row.messageId },
      create: { ...row, headers: row.headers ?? {} },
      update: {},
    });
    return { kind: 'sent', providerMessageId: `outbox_${row.messageId}` };
  };

  return {
    email: {
      name: 'outbox',
      channel: 'email',
      send: (m: OutgoingEmail) =>
        store({
          messageId: m.messageId,
          channel: 'email',
          to: m.to,
          from: m.from,
          subject: m.subject,
          html: m.html,
          text: m.text,
          headers: m.headers,
        }),
    },
    sms: {
      name: 'outbox',
      channel: 'sms',
      send: (m: OutgoingSms) => store({ messageId: m.messageId, channel: 'sms', to: m.to, text: m.body }),
    },
  };
}
