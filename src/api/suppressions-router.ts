import { Router } from 'express';
import { z } from 'zod';
import { toSuppressionJson, type SuppressionService } from '../deliverability/suppressions';
import { Channel } from '../generated/prisma/enums';
import { NotFoundError } from '../lib/errors';

const ListQuery = z.strictObject({
  // Exactly this address or number (normalized like everywhere else); `search` matches a part of it.
  recipient: z.string().trim().min(3).optional(),
  search: z.string().min(1).optional(),
  channel: z.enum(Channel).optional(),
  include_expired: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  limit: z.coerce.number().int().min(1).max(200, 'must be at most 200').default(50),
  cursor: z.string().min(1).optional(),
});

const AddBody = z.strictObject({
  recipient: z.string().trim().min(3),
  channel: z.enum(Channel).default('email'),
  reason: z.string().trim().min(1).max(200).optional(),
  expires_at: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 timestamp' })
    .transform((s) => new Date(s))
    .refine((d) => d.getTime() > Date.now(), 'must be in the future')
    .nullish(),
});

const ReleaseQuery = z.strictObject({
  recipient: z.string().trim().min(3),
  channel: z.enum(Channel).default('email'),
});

export function suppressionsApiRouter({
  suppressions,
}: {
  suppressions: Pick<SuppressionService, 'list' | 'suppress' | 'release'>;
}): Router {
  const router = Router();

  router.get('/suppressions', async (req, res) => {
    const q = ListQuery.parse(req.query);
    res.json(
      await suppressions.list({
        recipient: q.recipient,
        search: q.search,
        channel: q.channel,
        includeExpired: q.include_expired,
        limit: q.limit,
        cursor: q.cursor,
      }),
    );
  });

  router.post('/suppressions', async (req, res) => {
    const body = AddBody.parse(req.body ?? {});
    const row = await suppressions.suppress({
      channel: body.channel,
      recipient: body.recipient,
      reason: 'manual',
      detail: body.reason ? { note: body.reason } : {},
      expiresAt: body.expires_at ?? null,
    });
    res.status(201).json(toSuppressionJson(row));
  });

  // Release by recipient (`?recipient=…&channel=email`, or the same as a JSON body) or by the entry's id.
  router.delete('/suppressions', async (req, res) => {
    const q = ReleaseQuery.parse(Object.keys(req.query).length > 0 ? req.query : (req.body ?? {}));
    const row = await suppressions.release({ channel: q.channel, recipient: q.recipient });
    if (!row) throw new NotFoundError(`${q.recipient} is not suppressed on ${q.channel}`);
    res.json({ released: true, suppression: toSuppressionJson(row) });
  });

  router.delete('/suppressions/:id', async (req, res) => {
    const row = await suppressions.release({ id: req.params.id });
    if (!row) throw new NotFoundError(`No suppression ${req.params.id}`);
    res.json({ released: true, suppression: toSuppressionJson(row) });
  });

  return router;
}
