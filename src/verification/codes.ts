import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';

/** A uniformly random numeric code from the CSPRNG, zero-padded. */
export function generateCode(length: number): string {
  return randomInt(0, 10 ** length)
    .toString()
    .padStart(length, '0');
}

/**
 * What is stored instead of the code: HMAC-SHA256 keyed with VERIFICATION_SECRET over the verification id and
 * the code. Without the secret a leaked table cannot be brute-forced; the id stops one hash matching elsewhere.
 */
export function hashCode(secret: string, verificationId: string, code: string): string {
  return createHmac('sha256', secret).update(`${verificationId}:${code}`).digest('hex');
}

/**
 * Constant-time comparison of two code hashes: the only place a code is checked. Both are 64 hex characters
 * when well formed; a hash of another length is compared against itself so the work done is the same, then
 * refused, and so is an empty stored hash (a used, burnt or expired code), even against an empty candidate.
 */
export function hashesMatch(candidate: string, stored: string): boolean {
  const a = Buffer.from(candidate, 'utf8');
  const b = Buffer.from(stored, 'utf8');
  const comparable = b.length > 0 && a.length === b.length;
  const equal = timingSafeEqual(a, comparable ? b : a);
  return comparable && equal;
}
