import { createHash, randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Random bytes drawn 4 KB at a time: one call into OpenSSL per 256 ids, not one per id. */
const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomOffset = 0;

function randomByte(): number {
  if (randomOffset === randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomOffset = 0;
  }
  return randomPool[randomOffset++]!;
}

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
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[randomByte() % 32];
  return `${prefix}_${time}${random}`;
}

/** A stable 128-bit hex digest: for keys and ids that must not show what they were made from. */
export const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);
