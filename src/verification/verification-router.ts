import { isIP } from 'node:net';
import { Router } from 'express';
import { z } from 'zod';
import { VERIFICATION_PURPOSES } from '../config/env';
import { EmailAddress, PhoneNumber } from '../lib/recipient';
import type { VerificationService } from './verification-service';

const Purpose = z.enum(VERIFICATION_PURPOSES);
const ClientIp = z.string().refine((ip) => isIP(ip) !== 0, 'must be an IPv4 or IPv6 address');

const CreateVerification = z.discriminatedUnion('channel', [
  z.strictObject({
    channel: z.literal('email'),
    to: EmailAddress,
    purpose: Purpose,
    client_ip: ClientIp.optional(),
  }),
  z.strictObject({
    channel: z.literal('sms'),
    to: PhoneNumber,
    purpose: Purpose,
    email: EmailAddress.optional(),
    fallback: z.boolean().default(true),
    client_ip: ClientIp.optional(),
  }),
]);

const Code = z.string().min(1).max(32);
const CheckVerification = z.union(
  [
    z.strictObject({ verification_id: z.string().min(1).max(64), code: Code, client_ip: ClientIp.optional() }),
    z.strictObject({ to: z.string().trim().min(1).max(320), purpose: Purpose, code: Code, client_ip: ClientIp.optional() }),
  ],
  { error: 'send verification_id and code, or to, purpose and code' },
);

/**
 * `POST /v1/verifications` issues a code and sends it; `POST /v1/verifications/check` checks one.
 * `client_ip` is the end user's address as your server saw it. Issuing without it counts the caller against the
 * per-IP limit; checking without it skips the per-IP limit on wrong codes, because the caller's address stands
 * for every user of the app and one guesser would lock them all out (the per-code limit still applies).
 */
export function verificationRouter({ verifications }: { verifications: VerificationService }): Router {
  const router = Router();
  router.post('/verifications', async (req, res) => {
    const input = CreateVerification.parse(req.body);
    const created = await verifications.create({
      channel: input.channel,
      to: input.to,
      purpose: input.purpose,
      email: input.channel === 'sms' ? input.email : undefined,
      fallback: input.channel === 'sms' ? input.fallback : false,
      clientIp: input.client_ip ?? req.ip ?? 'unknown',
    });
    res.status(201).json(created);
  });
  router.post('/verifications/check', async (req, res) => {
    const input = CheckVerification.parse(req.body);
    const lookup = 'verification_id' in input ? { verificationId: input.verification_id } : { to: input.to, purpose: input.purpose };
    // Codes are digits; people paste them with the spaces or dashes they were grouped by.
    res.json(await verifications.check(lookup, input.code.replace(/[\s-]/g, ''), input.client_ip));
  });
  return router;
}
