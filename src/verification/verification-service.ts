import type { Config, VerificationPurpose } from '../config/env';
import type { Db } from '../db/prisma';
import type { EmailContent, MessagePayload } from '../delivery/content';
import type { MessageService } from '../delivery/message-service';
import { AppError, NotConfiguredError } from '../lib/errors';
import { newId } from '../lib/ids';
import { normalizeAnyRecipient, normalizeRecipient } from '../lib/recipient';
import type { Logger } from '../lib/logger';
import { spokenDuration, type Templates } from '../templates/templates';
import { generateCode, hashCode, hashesMatch } from './codes';
import type { VerificationRateLimiter } from './rate-limiter';

/** How long a code lives when VERIFICATION_EXPIRY does not say otherwise. */
export const DEFAULT_EXPIRY_SECONDS: Record<VerificationPurpose, number> = {
  login: 300,
  '2fa': 300,
  email_verification: 600,
  phone_verification: 600,
  magic_link: 600,
  password_reset: 900,
};

const PURPOSE_LABELS: Record<VerificationPurpose, string> = {
  login: 'sign-in',
  '2fa': 'two-factor sign-in',
  email_verification: 'email verification',
  phone_verification: 'phone verification',
  magic_link: 'sign-in',
  password_reset: 'password reset',
};

export interface CreateVerificationInput {
  channel: 'email' | 'sms';
  to: string;
  purpose: VerificationPurpose;
  /** Where to send the code by email if the SMS fails. */
  email?: string;
  fallback: boolean;
  clientIp: string;
}

export type CheckResult = { verified: true } & Omit<VerificationJson, 'status' | 'message_id' | 'expires_at'>;

export type CheckLookup = { verificationId: string } | { to: string; purpose: VerificationPurpose };

export interface VerificationJson {
  verification_id: string;
  status: string;
  channel: 'email' | 'sms';
  to: string;
  purpose: string;
  expires_at: string;
  message_id: string;
}

/** Wrong, expired, used, superseded or unknown all get this one answer, so a check reveals nothing. */
export class InvalidCodeError extends AppError {
  constructor() {
    super(422, 'invalid_code', 'The code is wrong, has expired or was already used');
  }
}

export class TooManyAttemptsError extends AppError {
  constructor() {
    super(429, 'too_many_attempts', 'Too many wrong codes: this code no longer works; request a new one');
  }
}

export interface VerificationDeps {
  db: Db;
  messages: Pick<MessageService, 'accept'>;
  limiter: VerificationRateLimiter;
  templates: Templates;
  config: Pick<Config, 'VERIFICATION_SECRET' | 'VERIFICATION_CODE_LENGTH' | 'VERIFICATION_EXPIRY' | 'VERIFICATION_MAX_ATTEMPTS'>;
  log: Logger;
  now?: () => Date;
}

export type VerificationService = ReturnType<typeof createVerificationService>;

/** The id a check works on when its lookup matches no verification: never issued (`newId` gives 26 characters). */
const NO_VERIFICATION = 'ver_none';

const lookupKey = (lookup: CheckLookup): string =>
  'verificationId' in lookup ? `id:${lookup.verificationId}` : `to:${normalizeAnyRecipient(lookup.to)}:${lookup.purpose}`;

/** What issuing and checking share: the clock, each purpose's lifetime, and the secret codes are hashed with. */
function verificationContext({ config, now = () => new Date() }: Pick<VerificationDeps, 'config' | 'now'>) {
  const expirySeconds = (purpose: VerificationPurpose): number => config.VERIFICATION_EXPIRY?.[purpose] ?? DEFAULT_EXPIRY_SECONDS[purpose];
  return {
    now,
    expirySeconds,
    // The longest a lookup can matter: misses are remembered that long.
    longestExpiryMs: Math.max(...Object.keys(DEFAULT_EXPIRY_SECONDS).map((p) => expirySeconds(p as VerificationPurpose))) * 1000,
    secret(): string {
      if (!config.VERIFICATION_SECRET) {
        throw new NotConfiguredError('Set VERIFICATION_SECRET (32+ random characters) to issue and check verification codes');
      }
      return config.VERIFICATION_SECRET;
    },
  };
}

type VerificationContext = ReturnType<typeof verificationContext>;

/** Issuing: a new code replaces the previous one, and its message is accepted like any other. */
function createIssuer(
  { db, messages, limiter, templates, config, log }: VerificationDeps,
  { now, expirySeconds, secret }: VerificationContext,
) {
  function render(input: CreateVerificationInput, code: string, ttlSeconds: number): MessagePayload {
    const names = [`verification_${input.purpose}`, 'verification'];
    const vars = {
      code,
      expires_in: spokenDuration(ttlSeconds),
      expires_in_minutes: String(Math.round(ttlSeconds / 60)),
      purpose: PURPOSE_LABELS[input.purpose],
    };
    const email = (): EmailContent => ({ channel: 'email', ...templates.email(names, vars) });
    if (input.channel === 'email') return email();
    const body = templates.sms(names, vars);
    if (!input.fallback || !input.email) return { channel: 'sms', body };
    return {
      channel: 'sms',
      body,
      fallback: { recipient: input.email, template: `verification_${input.purpose}`, payload: email(), secrets: [code] },
    };
  }

  async function create(input: CreateVerificationInput): Promise<VerificationJson> {
    const key = secret();
    const recipient = normalizeRecipient(input.channel, input.to).recipient;
    await limiter.consumeIssue(`${input.channel}:${recipient}`, input.clientIp);

    const id = newId('ver');
    const code = generateCode(config.VERIFICATION_CODE_LENGTH);
    const ttlSeconds = expirySeconds(input.purpose);
    const createdAt = now();
    const expiresAt = new Date(createdAt.getTime() + ttlSeconds * 1000);
    // A new code replaces the previous one for this recipient and purpose: only the latest can be checked, and
    // guesses at the earlier ones do not count against it.
    await limiter.clearMisses(lookupKey({ to: recipient, purpose: input.purpose }));
    await db.$transaction([
      db.verification.updateMany({
        where: { recipient, purpose: input.purpose, status: 'pending' },
        data: { status: 'superseded', codeHash: null },
      }),
      db.verification.create({
        data: {
          id,
          channel: input.channel,
          recipient,
          purpose: input.purpose,
          codeHash: hashCode(key, id, code),
          maxAttempts: config.VERIFICATION_MAX_ATTEMPTS,
          createdAt,
          expiresAt,
        },
      }),
    ]);

    // The code in clear exists only in the message's payload, which the pipeline drops once it is sent,
    // failed or expired (and the sweeper past expiry); the message expires with the code.
    const accepted = await messages.accept({
      source: 'verification',
      externalId: id,
      template: `verification_${input.purpose}`,
      recipient,
      payload: render(input, code, ttlSeconds),
      secrets: [code],
      codeBearing: true,
      issuedAt: createdAt,
      maxAgeSeconds: ttlSeconds,
      receivedDetail: { verification_id: id, purpose: input.purpose },
    });
    await db.verification.update({ where: { id }, data: { messageId: accepted.messageId } });
    log.info(
      { verification_id: id, message_id: accepted.messageId, channel: input.channel, purpose: input.purpose },
      'verification issued',
    );
    return {
      verification_id: id,
      status: 'pending',
      channel: input.channel,
      to: recipient,
      purpose: input.purpose,
      expires_at: expiresAt.toISOString(),
      message_id: accepted.messageId,
    };
  }

  return { create };
}

/** Checking: the same answer after the same work, whatever the lookup found (test/verification-oracle.test.ts). */
function createChecker({ db, limiter, config, log }: VerificationDeps, { now, longestExpiryMs, secret }: VerificationContext) {
  async function findPending(lookup: CheckLookup) {
    if ('verificationId' in lookup) return db.verification.findUnique({ where: { id: lookup.verificationId } });
    return db.verification.findFirst({
      where: { recipient: normalizeAnyRecipient(lookup.to), purpose: lookup.purpose },
      orderBy: { createdAt: 'desc' },
    });
  }

  /**
   * Checks a code. Every failure is the same `invalid_code` answer, after the same work (one lookup, one
   * attempt-counting update, one HMAC and constant-time compare, one miss counted in Redis), whether the
   * verification exists, has expired, was used or burnt, or never existed; after the last allowed wrong attempt
   * on a lookup the answer is 429 (and one more update burns it) for as long, whatever the lookup found. With the end user's IP, wrong codes are also limited
   * per IP over every recipient, so one client cannot spread its guesses over many codes.
   */
  async function check(lookup: CheckLookup, code: string, clientIp?: string): Promise<CheckResult> {
    if (clientIp === undefined) return checkCode(lookup, code);
    await limiter.takeCheck(clientIp);
    let wrongCode = false;
    try {
      return await checkCode(lookup, code);
    } catch (err) {
      wrongCode = err instanceof InvalidCodeError || err instanceof TooManyAttemptsError;
      throw err;
    } finally {
      // Only wrong codes use up the IP's allowance; a slot not given back (Redis gone) costs one check at most.
      if (!wrongCode) await limiter.returnCheck(clientIp).catch(() => undefined);
    }
  }

  async function checkCode(lookup: CheckLookup, code: string): Promise<CheckResult> {
    const key = secret();
    const at = now();
    const found = await findPending(lookup);
    // A lookup that matches nothing is worked on as this id, which no row has: the same queries run and find nothing.
    const id = found?.id ?? NO_VERIFICATION;

    // Count the attempt first, atomically: parallel guesses cannot exceed the limit. The commit does not wait
    // for the WAL to reach disk (set_config(..., true) lasts for this statement's transaction): that wait is
    // what would set a live code's check (a row written) apart from an unknown one's (nothing to write). A
    // crash of Postgres can forget the last attempts counted, not more.
    const counted = await db.$queryRaw<{ codeHash: string | null; attempts: number; maxAttempts: number }[]>`
      WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true))
      UPDATE verifications SET attempts = attempts + 1
      FROM no_flush_wait
      WHERE id = ${id} AND status = 'pending' AND expires_at > ${at} AND attempts < max_attempts
      RETURNING code_hash AS "codeHash", attempts, max_attempts AS "maxAttempts"`;
    const row = counted[0];
    if (hashesMatch(hashCode(key, id, code), row?.codeHash ?? '') && found) return use(found, at);

    // Every wrong guess counts on its lookup, whatever the lookup found, so the lookup is burnt after the same
    // number of guesses and stays so for the same time: known, unknown, expired or used alike.
    const misses = await limiter.countMiss(lookupKey(lookup), longestExpiryMs);
    const exhausted =
      misses >= config.VERIFICATION_MAX_ATTEMPTS ||
      (row !== undefined && row.attempts >= row.maxAttempts) ||
      (found?.status === 'burnt' && found.expiresAt > at);
    if (!exhausted) throw new InvalidCodeError();
    // Without the flush wait too, for the same reason: burning a live code costs what burning nothing does.
    const burnt = await db.$executeRaw`
      WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true))
      UPDATE verifications SET status = 'burnt', code_hash = NULL
      FROM no_flush_wait
      WHERE id = ${id} AND status = 'pending'`;
    if (burnt > 0) log.warn({ verification_id: id }, 'verification burnt after too many wrong codes');
    throw new TooManyAttemptsError();
  }

  /** Single use: only one of two racing correct checks flips it to verified. */
  async function use(found: NonNullable<Awaited<ReturnType<typeof findPending>>>, at: Date): Promise<CheckResult> {
    const used = await db.verification.updateMany({
      where: { id: found.id, status: 'pending' },
      data: { status: 'verified', verifiedAt: at, codeHash: null },
    });
    if (used.count !== 1) throw new InvalidCodeError();
    log.info({ verification_id: found.id }, 'verification succeeded');
    return { verified: true, verification_id: found.id, channel: found.channel, to: found.recipient, purpose: found.purpose };
  }

  return { check };
}

export function createVerificationService(deps: VerificationDeps) {
  const context = verificationContext(deps);
  return { ...createIssuer(deps, context), ...createChecker(deps, context) };
}
