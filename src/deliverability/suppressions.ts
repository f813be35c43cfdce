import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import { Prisma } from '../generated/prisma/client';
import type { Channel } from '../generated/prisma/enums';
import { ValidationError } from '../lib/errors';
import { decodeCursor, encodeCursor } from '../lib/cursor';
import { newId, shortHash } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { isRecipient, normalizeRecipient, RECIPIENT_EXPECTED } from '../lib/recipient';
import { enqueueClerkWriteback, type Queues } from '../queue/catalog';

/**
 * The suppression list: recipients we must not send to, per channel. A complaint suppresses for good; a hard
 * bounce, or the provider's own suppression list (reason unknown), for HARD_BOUNCE_SUPPRESSION_DAYS; an
 * operator can add or release any entry.
 */

export type SuppressionReason = 'hard_bounce' | 'complaint' | 'provider_suppression' | 'manual';

export type SuppressionRow = Prisma.SuppressionGetPayload<object>;

export interface SuppressionJson {
  id: string;
  channel: Channel;
  recipient: string;
  reason: string;
  source_message_id: string | null;
  detail: unknown;
  created_at: string;
  /** Null: until released by hand. */
  expires_at: string | null;
}

export function toSuppressionJson(s: SuppressionRow): SuppressionJson {
  return {
    id: s.id,
    channel: s.channel,
    recipient: s.recipient,
    reason: s.reason,
    source_message_id: s.sourceMessageId,
    detail: s.detail,
    created_at: s.createdAt.toISOString(),
    expires_at: s.expiresAt ? s.expiresAt.toISOString() : null,
  };
}

export interface SuppressInput {
  channel: Channel;
  recipient: string;
  reason: SuppressionReason;
  sourceMessageId?: string | null;
  detail?: Record<string, unknown>;
  /** Overrides the reason's default expiry (undefined: the default; null: never). */
  expiresAt?: Date | null;
}

export interface SuppressionListQuery {
  recipient?: string;
  search?: string;
  channel?: Channel;
  includeExpired?: boolean;
  limit: number;
  cursor?: string;
}

export interface SuppressionDeps {
  db: Db;
  config: Pick<Config, 'HARD_BOUNCE_SUPPRESSION_DAYS'>;
  queues: Pick<Queues, 'clerkWriteback'>;
  log: Logger;
  now?: () => Date;
  /** Told of every entry added (or lengthened) and released, after it is written: the outbound events. */
  onChange?: (kind: 'created' | 'released', row: SuppressionRow) => Promise<void>;
}

export type SuppressionService = ReturnType<typeof createSuppressionService>;

/** Entries still suppressing at `at`: no expiry, or one still ahead. */
const inForceAt = (at: Date): Prisma.SuppressionWhereInput => ({ OR: [{ expiresAt: null }, { expiresAt: { gt: at } }] });

/** The service's dependencies with its clock resolved. */
type SuppressionContext = SuppressionDeps & { now: () => Date };

function defaultExpiry(config: SuppressionDeps['config'], reason: SuppressionReason, at: Date): Date | null {
  if (reason === 'hard_bounce' || reason === 'provider_suppression')
    return new Date(at.getTime() + config.HARD_BOUNCE_SUPPRESSION_DAYS * 86_400_000);
  return null;
}

/**
 * Adds or lengthens a suppression; never shortens one (a complaint's "never" survives a later bounce), and
 * an expired entry is replaced. Safe to repeat.
 */
async function suppress({ db, config, log, now, onChange }: SuppressionContext, input: SuppressInput): Promise<SuppressionRow> {
  const at = now();
  const { recipient } = normalizeRecipient(input.channel, input.recipient);
  // Every way in (API, dashboard, CLI, provider events) lands here: a malformed address would never match.
  if (!isRecipient(input.channel, recipient)) throw new ValidationError(`recipient: ${RECIPIENT_EXPECTED[input.channel]}`);
  const expiresAt = input.expiresAt === undefined ? defaultExpiry(config, input.reason, at) : input.expiresAt;
  const detail = JSON.stringify(input.detail ?? {});
  // Lengthening a bounce or complaint entry by hand keeps its reason: Clerk was told "undeliverable" because of
  // it, and its release must tell Clerk "deliverable" again.
  const manualOverInForce = Prisma.sql`EXCLUDED.reason = 'manual' AND suppressions.expires_at > ${at}`;
  await db.$executeRaw`
    INSERT INTO suppressions (id, channel, recipient, reason, source_message_id, detail, created_at, expires_at)
    VALUES (${newId('sup')}, ${input.channel}::"Channel", ${recipient}, ${input.reason}, ${input.sourceMessageId ?? null},
            ${detail}::jsonb, ${at}, ${expiresAt})
    ON CONFLICT (channel, recipient) DO UPDATE
      SET reason = CASE WHEN ${manualOverInForce} THEN suppressions.reason ELSE EXCLUDED.reason END,
          source_message_id = CASE WHEN ${manualOverInForce} THEN suppressions.source_message_id ELSE EXCLUDED.source_message_id END,
          detail = CASE WHEN ${manualOverInForce} THEN suppressions.detail || EXCLUDED.detail ELSE EXCLUDED.detail END,
          created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, expiry_handled_at = NULL
      WHERE suppressions.expires_at IS NOT NULL
        AND (EXCLUDED.expires_at IS NULL OR EXCLUDED.expires_at > suppressions.expires_at)`;
  const row = await db.suppression.findUniqueOrThrow({ where: { channel_recipient: { channel: input.channel, recipient } } });
  log.info(
    { suppression_id: row.id, channel: row.channel, reason: row.reason, source_message_id: row.sourceMessageId },
    'recipient suppressed',
  );
  await onChange?.('created', row);
  return row;
}

/** The suppression in force for a recipient, if any. */
async function active({ db, now }: SuppressionContext, channel: Channel, recipient: string): Promise<SuppressionRow | null> {
  const normalized = normalizeRecipient(channel, recipient).recipient;
  return db.suppression.findFirst({
    where: { channel, recipient: normalized, ...inForceAt(now()) },
  });
}

/** One page of entries, newest first: by recipient, search text and channel; ended ones only when asked for. */
async function list(
  { db, now }: SuppressionContext,
  query: SuppressionListQuery,
): Promise<{ data: SuppressionJson[]; next_cursor: string | null }> {
  const and: Prisma.SuppressionWhereInput[] = [];
  if (query.channel) and.push({ channel: query.channel });
  if (query.recipient) {
    const channels = query.channel ? [query.channel] : (['email', 'sms'] as const);
    and.push({ OR: channels.map((channel) => ({ channel, recipient: normalizeRecipient(channel, query.recipient!).recipient })) });
  }
  if (query.search) and.push({ recipient: { contains: query.search.trim().toLowerCase(), mode: 'insensitive' } });
  if (!query.includeExpired) and.push(inForceAt(now()));
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    and.push({ OR: [{ createdAt: { lt: c.at } }, { createdAt: c.at, id: { lt: c.id } }] });
  }
  const rows = await db.suppression.findMany({
    where: { AND: and },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
  });
  const page = rows.slice(0, query.limit);
  return {
    data: page.map(toSuppressionJson),
    next_cursor: rows.length > query.limit ? encodeCursor(page[page.length - 1]!.createdAt, page[page.length - 1]!.id) : null,
  };
}

/**
 * Tells Clerk the address is deliverable again, if a bounce or complaint had marked it undeliverable there,
 * then marks the ending handled, unless the entry was renewed meanwhile (a renewal resets created_at).
 */
async function handleEnding({ db, queues, now }: SuppressionContext, row: SuppressionRow, reason: 'released' | 'expired'): Promise<void> {
  if (row.channel === 'email' && row.reason !== 'manual') {
    // created_at changes whenever the entry is renewed, so a later release or expiry of the same row is a new job.
    const jobKey = shortHash(`${row.id}|${row.createdAt.toISOString()}|${reason}`);
    await enqueueClerkWriteback(
      queues,
      { emailStatus: 'deliverable', recipient: row.recipient, messageId: row.sourceMessageId, reason, at: now().toISOString() },
      `deliverable-${jobKey}`,
    );
  }
  await db.suppression.updateMany({ where: { id: row.id, createdAt: row.createdAt }, data: { expiryHandledAt: now() } });
}

/**
 * Ends the entry now so the recipient can be sent to again, and tells Clerk the address is deliverable again
 * when a bounce or complaint had marked it undeliverable there. The entry stays, ended, as the record of the
 * release (`include_expired=true`); if the Clerk job cannot be queued (Redis down), the release still stands
 * and the maintenance pass announces it, as it does an expiry.
 */
async function release(
  deps: SuppressionContext,
  where: { id: string } | { channel: Channel; recipient: string },
): Promise<SuppressionRow | null> {
  const { db, log, now, onChange } = deps;
  const at = now();
  const key =
    'id' in where ? { id: where.id } : { channel: where.channel, recipient: normalizeRecipient(where.channel, where.recipient).recipient };
  const inForce = inForceAt(at);
  const row = await db.suppression.findFirst({ where: { AND: [key, inForce] } });
  if (!row) return null;
  const detail = { ...(row.detail as Record<string, unknown>), released_at: at.toISOString() };
  const { count } = await db.suppression.updateMany({
    where: { AND: [{ id: row.id, createdAt: row.createdAt }, inForce] },
    data: { expiresAt: at, expiryHandledAt: null, detail },
  });
  // Released (or renewed) by someone else in between.
  if (count === 0) return null;
  const released = { ...row, expiresAt: at, expiryHandledAt: null, detail };
  log.info({ suppression_id: row.id, channel: row.channel, reason: row.reason }, 'suppression released');
  await onChange?.('released', released);
  try {
    await handleEnding(deps, released, 'released');
  } catch (err) {
    log.warn({ suppression_id: row.id, err: String(err) }, 'could not queue the Clerk write-back of a release; maintenance will retry');
  }
  return released;
}

/**
 * Entries that have run out (hard bounces after HARD_BOUNCE_SUPPRESSION_DAYS) stop suppressing on their own;
 * this tells Clerk about each once, as a release would (and finishes releases whose write-back could not be
 * queued). Run periodically by the maintenance worker. The rows stay, listed with `include_expired=true`.
 */
async function handleExpired(deps: SuppressionContext, batch = 500): Promise<number> {
  const { db, log, now } = deps;
  const due = await db.suppression.findMany({
    where: { expiresAt: { lte: now() }, expiryHandledAt: null },
    orderBy: { expiresAt: 'asc' },
    take: batch,
  });
  for (const row of due) {
    const released = typeof (row.detail as Record<string, unknown> | null)?.released_at === 'string';
    await handleEnding(deps, row, released ? 'released' : 'expired');
  }
  if (due.length > 0) log.info({ expired: due.length }, 'expired suppressions handled');
  return due.length;
}

export function createSuppressionService({ now = () => new Date(), ...rest }: SuppressionDeps) {
  const deps: SuppressionContext = { ...rest, now };
  return {
    suppress: (input: SuppressInput) => suppress(deps, input),
    active: (channel: Channel, recipient: string) => active(deps, channel, recipient),
    list: (query: SuppressionListQuery) => list(deps, query),
    release: (where: { id: string } | { channel: Channel; recipient: string }) => release(deps, where),
    handleExpired: (batch?: number) => handleExpired(deps, batch),
  };
}
