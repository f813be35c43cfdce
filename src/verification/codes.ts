import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';

/** A uniformly random numeric code from the CSPRNG (never Math.random), zero-padded. */
export function generateCode(length: number): string {
  return randomInt(0, 10 ** length).toString().padStart(length, '0');
}

/**
 * What is stored instead of the code: HMAC-SHA256 keyed with VERIFICATION_SECRET over the verification id and
 * the code. Without the secret a leaked table cannot be brute-forced; the id stops one hash matching elsewhere.
 */
export function hashCode(secret: string, verificationId: string, code: string): string {
  return createHmac('sha256', secret).update(`${verificationId}:${code}`).digest('hex');
}

/**
 * Constant-time comparison of two code hashes. Both are 64 hex characters when well formed; anything else
 * (a truncated or missing hash) is compared against itself so the work done is the same, then refused.
 */
export function hashesMatch(candidate: string, stored: string): boolean {
  const a = Buffer.from(candidate, 'utf8');
  const b = Buffer.from(stored, 'utf8');
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
