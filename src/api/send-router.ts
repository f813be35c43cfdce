import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/env';
import type { MessagePayload } from '../delivery/content';
import type { MessageService } from '../delivery/message-service';
import { EmailAddress, PhoneNumber } from '../lib/recipient';
import type { IdempotencyStore, StoredAnswer } from './idempotency';

const Template = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only, at most 64');
const Metadata = z
  .record(z.string().max(64), z.union([z.string().max(500), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 20, 'at most 20 keys');

const EmailMessage = z.strictObject({
  channel: z.literal('email'),
  to: EmailAddress,
  subject: z.string().trim().min(1).max(998),
  html: z.string().min(1).optional(),
  text: z.string().min(1).optional(),
  template: Template.optional(),
  metadata: Metadata.optional(),
});

const SmsMessage = z.strictObject({
  channel: z.literal('sms'),
  to: PhoneNumber,
  text: z.string().trim().min(1).max(1600),
  template: Template.optional(),
  metadata: Metadata.optional(),
});

export const SendMessageBody = z
  .discriminatedUnion('channel', [EmailMessage, SmsMessage])
  .refine((m) => m.channel === 'sms' || m.html !== undefined || m.text !== undefined, {
    message: 'an email needs html or text (or both)',
    path: ['html'],
  });

/** `POST /v1/messages`: send one email or SMS through the same pipeline and log as Clerk's. */
export function sendApiRouter({
  config,
  messages,
  idempotency,
}: {
  config: Pick<Config, 'APP_NAME'>;
  messages: Pick<MessageService, 'accept'>;
  idempotency: IdempotencyStore;
}): Router {
  const router = Router();
  router.post('/messages', async (req, res) => {
    const input = SendMessageBody.parse(req.body);
    const idempotencyKey = req.get('idempotency-key');
    let duplicate = false;
    const send = async (): Promise<StoredAnswer> => {
      const payload: MessagePayload =
        input.channel === 'sms'
          ? { channel: 'sms', body: input.text }
          : { channel: 'email', subject: input.subject, html: input.html, text: input.text, appName: config.APP_NAME };
      const result = await messages.accept({
        source: 'api',
        // The database is the gate: a retry whose first answer never reached Redis (a crash in between, the
        // claim expired) finds this message instead of recording a second one. Redis is the fast path.
        externalId: idempotencyKey ? `${req.apiKeyId ?? 'none'}:${idempotencyKey}` : undefined,
        template: input.template ?? null,
        recipient: input.to,
        payload,
        secrets: [],
        codeBearing: false,
        receivedDetail: {
          api_key: req.apiKeyId ?? null,
          ...(idempotencyKey ? { idempotency_key: idempotencyKey } : {}),
          ...(input.metadata ? { metadata: input.metadata } : {}),
        },
      });
      duplicate = result.duplicate;
      return { status: 202, body: { message_id: result.messageId, status: result.status } };
    };
    const answer = idempotencyKey
      ? await idempotency.once(req.apiKeyId ?? 'none', idempotencyKey, { route: 'messages', body: req.body }, send)
      : { ...(await send()), replayed: false };
    if (answer.replayed || duplicate) res.set('Idempotent-Replayed', 'true');
    res.locals.messageId = (answer.body as { message_id?: string }).message_id;
    res.status(answer.status).json(answer.body);
  });
  return router;
}
