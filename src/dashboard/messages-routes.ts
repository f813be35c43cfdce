import { z } from 'zod';
import { Prisma, type Db } from '../db/prisma';
import { toSuppressionJson } from '../deliverability/suppressions';
import { Channel, MessageStatus } from '../generated/prisma/enums';
import { NotFoundError } from '../lib/errors';
import { messageDetail } from './detail';
import { messagesPage, TIME_RANGES } from './message-list-page';
import { messageDetailPage } from './message-page';
import type { PageRoutes } from './pages';

const PAGE_SIZE = 50;
const FACETS_DAYS = 7;

const MessagesQuery = z.object({
  q: z.string().max(320).optional(),
  status: z.union([z.enum(MessageStatus), z.literal('')]).optional(),
  channel: z.union([z.enum(Channel), z.literal('')]).optional(),
  provider: z.string().max(64).optional(),
  template: z.string().max(128).optional(),
  range: z.enum(Object.keys(TIME_RANGES) as [string, ...string[]]).optional(),
  cursor: z.string().max(200).optional(),
  notice: z.string().optional(),
});

/**
 * The values the provider and template filters offer: those used in the last week. A DISTINCT over the week read
 * every message in it; this skips along each column's index from one value to the next (a handful of them) and
 * asks the same index whether each was used since, so it costs the number of values, not of messages.
 */
export async function filterFacets(db: Db, now: Date): Promise<{ providers: string[]; templates: string[] }> {
  const since = new Date(now.getTime() - FACETS_DAYS * 86_400_000);
  const [providers, templates] = await Promise.all([columnValues(db, 'provider', since, 50), columnValues(db, 'template', since, 100)]);
  return { providers, templates };
}

/** The values of one indexed column of `messages` used since `since`, at most `limit` of them. */
async function columnValues(db: Db, column: 'provider' | 'template', since: Date, limit: number): Promise<string[]> {
  // The column and the limit are fixed in code, never a request's value, so they stand in the SQL as they are.
  const c = Prisma.raw(column);
  const rows = await db.$queryRaw<{ v: string }[]>`
      WITH RECURSIVE vals AS (
        (SELECT ${c} AS v FROM messages WHERE ${c} IS NOT NULL ORDER BY ${c} LIMIT 1)
        UNION ALL
        SELECT (SELECT m.${c} FROM messages m WHERE m.${c} IS NOT NULL AND m.${c} > vals.v ORDER BY m.${c} LIMIT 1)
        FROM vals WHERE vals.v IS NOT NULL
      )
      SELECT v FROM vals
      WHERE v IS NOT NULL AND EXISTS (SELECT 1 FROM messages m WHERE m.${c} = vals.v AND m.created_at >= ${since})
      ORDER BY 1 LIMIT ${Prisma.raw(String(limit))}`;
  return rows.map((r) => r.v);
}

/** The message list, a message's page and its retry. */
export function messagesRoutes({ deps, now, get, post, context }: PageRoutes): void {
  get('/dashboard', async (req, res) => {
    const q = MessagesQuery.parse(req.query);
    const range = TIME_RANGES[q.range ?? 'all']![1];
    const at = now();
    const [page, facets] = await Promise.all([
      deps.messageLog.list({
        search: q.q || undefined,
        status: q.status || undefined,
        channel: q.channel || undefined,
        provider: q.provider || undefined,
        template: q.template || undefined,
        since: range === null ? undefined : new Date(at.getTime() - range * 3_600_000),
        limit: PAGE_SIZE,
        cursor: q.cursor || undefined,
      }),
      filterFacets(deps.db, at),
    ]);
    const query = Object.fromEntries(Object.entries(q).filter(([k, v]) => v && k !== 'notice' && k !== 'cursor')) as Record<string, string>;
    const nextHref = page.next_cursor ? `/dashboard?${new URLSearchParams({ ...query, cursor: page.next_cursor })}` : null;
    res.type('html').send(messagesPage(context(req), { query, rows: page.data, nextHref, ...facets, now: at }));
  });

  get('/dashboard/messages/:id', async (req, res) => {
    const id = String(req.params.id);
    const detail = await messageDetail(deps.db, id, now());
    if (!detail) throw new NotFoundError(`No message ${id}; it may be older than RETENTION_DAYS (${deps.config.RETENTION_DAYS} days).`);
    const active = await deps.suppressions.active(detail.message.channel, detail.message.recipient);
    const suppressed = active ? toSuppressionJson(active) : null;
    res.type('html').send(messageDetailPage(context(req), detail, suppressed, now()));
  });

  post('/dashboard/messages/:id/retry', async (req, res) => {
    const id = String(req.params.id);
    await deps.retry.retryMessage(id);
    res.redirect(303, `/dashboard/messages/${encodeURIComponent(id)}?notice=retried`);
  });
}
