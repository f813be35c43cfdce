import type { Config } from '../config/env';
import type { OutgoingEmail, OutgoingSms } from '../providers/types';
import type { EmailContent, MessagePayload } from './content';
import { resolveFrom, resolveReplyTo } from './from-address';

/** The idempotency key every provider sees for a message: the same on every retry, from every process. */
export const idempotencyKeyFor = (messageId: string, generation = 0): string =>
  generation === 0 ? `auth-message/${messageId}` : `auth-message/${messageId}/retry-${generation}`;

/** What the adapters are handed for one message: its content, From, headers, tags and idempotency key. */
export function buildOutgoing(
  config: Pick<Config, 'EMAIL_FROM' | 'EMAIL_FROM_DOMAIN' | 'EMAIL_FROM_NAME'>,
  message: { id: string; recipient: string; template: string | null; sendGeneration: number },
  payload: MessagePayload,
): OutgoingEmail | OutgoingSms {
  // Stable across automatic retries; an admin retry starts a new generation, which the provider sends anew.
  const idempotencyKey = idempotencyKeyFor(message.id, message.sendGeneration);
  if (payload.channel === 'sms') {
    return { messageId: message.id, to: message.recipient, body: payload.body, idempotencyKey };
  }
  const email: EmailContent = payload;
  return {
    messageId: message.id,
    to: message.recipient,
    from: resolveFrom(config, email),
    replyTo: resolveReplyTo(config, email),
    subject: email.subject,
    html: email.html,
    text: email.text,
    // A unique X-Entity-Ref-ID per message stops Gmail threading one code under the previous ones.
    headers: { 'X-Entity-Ref-ID': message.id },
    tags: [
      { name: 'message_id', value: message.id },
      { name: 'template', value: (message.template ?? 'none').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 256) },
    ],
    idempotencyKey,
  };
}
