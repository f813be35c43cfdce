import { z } from 'zod';
import { Channel } from '../generated/prisma/enums';
import { localPath, withNotice, type PageRoutes } from './pages';
import { suppressionsPage } from './suppressions-page';

const SUPPRESSIONS_SHOWN = 200;

const SuppressionForm = z.object({
  channel: z.enum(Channel),
  recipient: z.string().trim().min(3, 'recipient is required').max(320),
  reason: z.string().trim().min(1).max(100).default('manual'),
  source_message_id: z.string().max(64).optional(),
  back: z.string().optional(),
});

/** The suppression list, adding to it and releasing from it. */
export function suppressionsRoutes({ deps, get, post, context }: PageRoutes): void {
  get('/dashboard/suppressions', async (req, res) => {
    const search = typeof req.query.q === 'string' ? req.query.q.slice(0, 320) : '';
    const { data: rows } = await deps.suppressions.list({ search: search || undefined, limit: SUPPRESSIONS_SHOWN });
    res.type('html').send(suppressionsPage(context(req), { search, rows, limit: SUPPRESSIONS_SHOWN }));
  });

  post('/dashboard/suppressions', async (req, res) => {
    const input = SuppressionForm.parse(req.body);
    await deps.suppressions.suppress({
      channel: input.channel,
      recipient: input.recipient,
      reason: 'manual',
      sourceMessageId: input.source_message_id || undefined,
      detail: input.reason === 'manual' ? {} : { note: input.reason },
    });
    res.redirect(303, withNotice(localPath(input.back, '/dashboard/suppressions'), 'suppressed'));
  });

  post('/dashboard/suppressions/release', async (req, res) => {
    const input = SuppressionForm.pick({ channel: true, recipient: true, back: true }).parse(req.body);
    const released = (await deps.suppressions.release({ channel: input.channel, recipient: input.recipient })) !== null;
    res.redirect(303, withNotice(localPath(input.back, '/dashboard/suppressions'), released ? 'released' : 'not_suppressed'));
  });
}
