import type { createClerkClient } from '@clerk/backend';
import { isClerkAPIResponseError, type ClerkAPIResponseError } from '@clerk/backend/errors';
import type { Db } from '../db/prisma';
import type { MessageStore } from '../delivery/message-store';
import type { Logger } from '../lib/logger';
import { normalizeEmail } from '../lib/recipient';
import type { ClerkWritebackJobData } from '../queue/catalog';
import type { SuppressionService } from './suppressions';

/**
 * Writes an address's deliverability back to the Clerk user (clerk.md §5), so the app can ask the user for
 * another address: `public_metadata.email_status` ("undeliverable" / "deliverable") and, under our own key
 * `public_metadata.auth_relay`, why and when. Clerk deep-merges metadata, so other keys are untouched.
 */

export type ClerkUsers = Pick<ReturnType<typeof createClerkClient>['users'], 'getUserList' | 'updateUserMetadata'>;

/**
 * Clerk's users API, its SDK loaded on the first write-back: write-backs follow bounces and complaints, rare
 * next to sends, and the SDK holds about 4 MB of heap in each process (and worker thread) that builds it.
 */
export function clerkUsers(options: { secretKey: string; apiUrl?: string }): ClerkUsers {
  let users: Promise<ClerkUsers> | undefined;
  const loaded = () => (users ??= import('@clerk/backend').then(({ createClerkClient }) => createClerkClient(options).users));
  return {
    getUserList: async (...args) => (await loaded()).getUserList(...args),
    updateUserMetadata: async (...args) => (await loaded()).updateUserMetadata(...args),
  };
}

export const CLERK_WRITEBACK_MAX_TRIES = 6;
const MAX_BACKOFF_MS = 5 * 60_000;

export type WritebackOutcome =
  | { kind: 'done'; outcome: 'updated' | 'skipped' | 'superseded' | 'user_not_found' | 'rejected' | 'gave_up' }
  | { kind: 'retry'; delayMs: number; tries: number };

// The SDK throws ClerkAPIResponseError for every non-2xx, and for network failures with no status.
const clerkErrorOf = (err: unknown): ClerkAPIResponseError | undefined =>
  isClerkAPIResponseError(err) ? (err as ClerkAPIResponseError) : undefined;

export interface ClerkWritebackDeps {
  db: Db;
  store: Pick<MessageStore, 'recordWriteback'>;
  /** Null when CLERK_SECRET_KEY is not set: write-backs are skipped and say so. */
  clerk: ClerkUsers | null;
  /** Read when the job runs: a write-back the suppression list no longer agrees with is not sent. */
  suppressions: Pick<SuppressionService, 'active'>;
  log: Logger;
  maxTries?: number;
}

export type ClerkWriteback = ReturnType<typeof createClerkWriteback>;

/** The message's Clerk user, else every Clerk user with the address (in the spelling suppressions keep). */
async function findUserIds(db: Db, job: ClerkWritebackJobData, users: ClerkUsers): Promise<string[]> {
  if (job.messageId) {
    const message = await db.message.findUnique({ where: { id: job.messageId }, select: { userId: true } });
    if (message?.userId) return [message.userId];
  }
  const { data } = await users.getUserList({ emailAddress: [job.recipient] });
  const address = normalizeEmail(job.recipient);
  return data.filter((u) => u.emailAddresses.some((e) => normalizeEmail(e.emailAddress) === address)).map((u) => u.id);
}

const backoffMs = (tries: number): number => Math.min(MAX_BACKOFF_MS, 2_000 * 2 ** (tries - 1));

export function createClerkWriteback({ db, store, clerk, suppressions, log, maxTries = CLERK_WRITEBACK_MAX_TRIES }: ClerkWritebackDeps) {
  async function record(job: ClerkWritebackJobData, detail: Record<string, unknown>): Promise<void> {
    if (!job.messageId) return;
    await store.recordWriteback(job.messageId, { email_status: job.emailStatus, ...detail });
  }

  async function process(job: ClerkWritebackJobData): Promise<WritebackOutcome> {
    const jobLog = log.child({ message_id: job.messageId, email_status: job.emailStatus });
    if (!clerk) {
      jobLog.info('CLERK_SECRET_KEY is not set; Clerk write-back skipped');
      await record(job, { outcome: 'skipped', reason: 'CLERK_SECRET_KEY is not set' });
      return { kind: 'done', outcome: 'skipped' };
    }
    // Jobs can run out of order (a 429 delays one, a new bounce queues another): write only what is still true.
    const suppressed = (await suppressions.active('email', job.recipient)) !== null;
    if (suppressed !== (job.emailStatus === 'undeliverable')) {
      jobLog.info('the suppression list changed since this write-back was queued; not sent');
      await record(job, {
        outcome: 'superseded',
        reason: suppressed ? 'the address is suppressed again' : 'the suppression was released or expired',
      });
      return { kind: 'done', outcome: 'superseded' };
    }
    let userId: string | undefined;
    try {
      const userIds = await findUserIds(db, job, clerk);
      if (userIds.length === 0) {
        jobLog.info('no Clerk user has this address; write-back dropped');
        await record(job, { outcome: 'user_not_found', lookup: 'email_address' });
        return { kind: 'done', outcome: 'user_not_found' };
      }
      for (userId of userIds) {
        await clerk.updateUserMetadata(userId, {
          publicMetadata: {
            email_status: job.emailStatus,
            auth_relay: {
              email_status: job.emailStatus,
              email_address: job.recipient,
              reason: job.reason,
              at: job.at,
              message_id: job.messageId,
            },
          },
        });
      }
      jobLog.info({ user_ids: userIds }, 'Clerk user metadata updated');
      await record(job, { outcome: 'updated', user_ids: userIds });
      return { kind: 'done', outcome: 'updated' };
    } catch (err) {
      const clerkError = clerkErrorOf(err);
      const status = clerkError?.status;
      if (status === 404) {
        jobLog.info({ user_id: userId }, 'Clerk user not found; write-back dropped');
        await record(job, { outcome: 'user_not_found', user_id: userId ?? null, status });
        return { kind: 'done', outcome: 'user_not_found' };
      }
      // 429, 5xx and network errors (no status) are worth another try; any other 4xx will not change.
      if (status !== undefined && status !== 429 && status < 500) {
        jobLog.warn({ status, err: (err as Error).message }, 'Clerk rejected the write-back');
        await record(job, { outcome: 'rejected', status, error: (err as Error).message });
        return { kind: 'done', outcome: 'rejected' };
      }
      const tries = (job.tries ?? 0) + 1;
      if (tries >= maxTries) {
        jobLog.warn({ status, tries, err: (err as Error).message }, 'Clerk write-back gave up');
        await record(job, { outcome: 'gave_up', status: status ?? null, tries, error: (err as Error).message });
        return { kind: 'done', outcome: 'gave_up' };
      }
      const retryAfter = clerkError?.retryAfter;
      const delayMs = retryAfter && retryAfter > 0 ? retryAfter * 1000 : backoffMs(tries);
      jobLog.info({ status, tries, delay_ms: delayMs }, 'Clerk write-back will be retried');
      return { kind: 'retry', delayMs, tries };
    }
  }

  return { process };
}
