import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import type { Logger } from '../lib/logger';

export interface RetentionDeps {
  db: Db;
  config: Pick<Config, 'RETENTION_DAYS' | 'BODY_RETENTION_DAYS'>;
  log: Logger;
  now?: () => Date;
  /** Rows per DELETE: small enough that no statement holds locks for long on a big log. */
  batchSize?: number;
}

export interface RetentionResult {
  bodies: number;
  outbox: number;
  messages: number;
  verifications: number;
  providerEvents: number;
}

export type Retention = ReturnType<typeof createRetention>;

const DAY_MS = 86_400_000;

/**
 * The daily clean-up: message bodies (the redacted copy and headers, and the outbox's full messages) go after
 * BODY_RETENTION_DAYS; messages with their timelines after RETENTION_DAYS, and so do verification codes' rows
 * (recipient, purpose, outcome) and the raw provider webhooks that were applied (they carry recipient
 * addresses). Deletes run in batches until a batch comes back short, each on an index of the table.
 */
export function createRetention({ db, config, log, now = () => new Date(), batchSize = 1_000 }: RetentionDeps) {
  async function inBatches(deleteBatch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await deleteBatch();
      total += n;
      if (n < batchSize) return total;
    }
  }

  async function run(): Promise<RetentionResult> {
    const at = now().getTime();
    const bodyCutoff = new Date(at - config.BODY_RETENTION_DAYS * DAY_MS);
    const messageCutoff = new Date(at - config.RETENTION_DAYS * DAY_MS);

    const messages = await inBatches(
      () => db.$executeRaw`
        DELETE FROM messages WHERE id IN (
          SELECT id FROM messages WHERE created_at < ${messageCutoff} ORDER BY created_at LIMIT ${batchSize})`,
    );
    const bodies = await inBatches(
      () => db.$executeRaw`
        DELETE FROM message_contents WHERE message_id IN (
          SELECT message_id FROM message_contents WHERE created_at < ${bodyCutoff} ORDER BY created_at LIMIT ${batchSize})`,
    );
    const outbox = await inBatches(
      () => db.$executeRaw`
        DELETE FROM outbox_messages WHERE message_id IN (
          SELECT message_id FROM outbox_messages WHERE created_at < ${bodyCutoff} ORDER BY created_at LIMIT ${batchSize})`,
    );
    // A verification expires at most a day after it is issued: its expiry index stands in for created_at.
    const verifications = await inBatches(
      () => db.$executeRaw`
        DELETE FROM verifications WHERE id IN (
          SELECT id FROM verifications WHERE expires_at < ${messageCutoff} ORDER BY expires_at LIMIT ${batchSize})`,
    );
    // Unprocessed ones are left alone: they are still waiting to be applied (or to be given up on).
    const providerEvents = await inBatches(
      () => db.$executeRaw`
        DELETE FROM provider_events WHERE id IN (
          SELECT id FROM provider_events WHERE processed_at < ${messageCutoff} ORDER BY processed_at LIMIT ${batchSize})`,
    );
    const result = { bodies, outbox, messages, verifications, providerEvents };
    log.info(
      {
        bodies,
        outbox,
        messages,
        verifications,
        provider_events: providerEvents,
        body_retention_days: config.BODY_RETENTION_DAYS,
        retention_days: config.RETENTION_DAYS,
      },
      'retention finished',
    );
    return result;
  }

  return { run };
}
