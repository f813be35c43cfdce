import { createHash, randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Time-ordered ids (ULID layout: 48-bit ms time + 80 random bits, Crockford base32) behind a type prefix,
 * e.g. `msg_01JD…`. The prefix keeps them valid BullMQ job ids (never all digits, no ':').
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[bytes[i]! % 32];
  return `${prefix}_${time}${random}`;
}

/** A stable 128-bit hex digest: for keys and ids that must not show what they were made from. */
export const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);
