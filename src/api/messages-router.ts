import { Router } from 'express';
import { z } from 'zod';
import { isStorableDate } from '../db/storable';
import type { MessageLog } from '../delivery/message-log';
import type { MessageRetry } from '../delivery/retry';
import { MessageStatus, Channel } from '../generated/prisma/enums';
import { NotFoundError } from '../lib/errors';

// Year 0000 parses, but Postgres has no year 0: refused here rather than failing the query.
const timestamp = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 timestamp' })
  .transform((s) => new Date(s))
  .refine(isStorableDate, 'must be between the years 0001 and 9999');

export const MessageListQuery = z.strictObject({
  q: z.string().min(1).max(320).optional(),
  recipient: z.string().min(1).optional(),
  status: z.enum(MessageStatus).optional(),
  provider: z.string().min(1).optional(),
  channel: z.enum(Channel).optional(),
  template: z.string().min(1).optional(),
  user_id: z.string().min(1).optional(),
  since: timestamp.optional(),
  until: timestamp.optional(),
  updated_since: timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(200, 'must be at most 200').default(50),
  cursor: z.string().min(1).optional(),
});

export function messagesApiRouter({ messageLog, retry }: { messageLog: MessageLog; retry: MessageRetry }): Router {
  const router = Router();
  router.get('/messages', async (req, res) => {
    const q = MessageListQuery.parse(req.query);
    res.json(await messageLog.list({ ...q, search: q.q, userId: q.user_id, updatedSince: q.updated_since }));
  });
  router.get('/messages/:id', async (req, res) => {
    const message = await messageLog.get(req.params.id);
    if (!message) throw new NotFoundError(`No message ${req.params.id}`);
    res.json(message);
  });
  router.post('/messages/:id/retry', async (req, res) => {
    res.status(202).json(await retry.retryMessage(req.params.id));
  });
  return router;
}
