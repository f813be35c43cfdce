import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { generateCode, hashCode, hashesMatch } from '../src/verification/codes';

describe('hashesMatch', () => {
  const stored = hashCode('secret', 'ver_1', '123456');

  it.each([
    ['the same hash', hashCode('secret', 'ver_1', '123456'), true],
    ['another code, same length', hashCode('secret', 'ver_1', '123457'), false],
    ['one character different', `${stored.slice(0, 63)}${stored.endsWith('0') ? '1' : '0'}`, false],
    ['a prefix', stored.slice(0, 63), false],
    ['empty (a used or burnt code)', '', false],
    ['longer', `${stored}0`, false],
    ['multi-byte characters of the same string length', 'é'.repeat(64), false],
  ])('%s → %s', (_label, candidate, expected) => {
    expect(hashesMatch(candidate, stored)).toBe(expected);
    expect(hashesMatch(stored, candidate)).toBe(expected);
  });

  it('refuses two empty hashes: a cleared HMAC never matches anything', () => {
    expect(hashesMatch('', '')).toBe(false);
  });
});

describe('hashCode', () => {
  it('is an HMAC-SHA256 bound to the secret and the verification', () => {
    expect(hashCode('secret', 'ver_1', '123456')).toMatch(/^[0-9a-f]{64}$/);
    expect(hashCode('secret', 'ver_1', '123456')).toBe(hashCode('secret', 'ver_1', '123456'));
    expect(hashCode('other', 'ver_1', '123456')).not.toBe(hashCode('secret', 'ver_1', '123456'));
    expect(hashCode('secret', 'ver_2', '123456')).not.toBe(hashCode('secret', 'ver_1', '123456'));
  });
});

describe('generateCode', () => {
  it.each([4, 6, 8, 10])('gives %i digits, leading zeros kept', (length) => {
    for (let i = 0; i < 200; i++) expect(generateCode(length)).toMatch(new RegExp(`^\\d{${length}}$`));
  });

  it('spreads every digit evenly over every position', () => {
    const draws = 20_000;
    const counts = Array.from({ length: 6 }, () => new Array<number>(10).fill(0));
    for (let i = 0; i < draws; i++) {
      const code = generateCode(6);
      for (let position = 0; position < 6; position++) counts[position]![Number(code[position])]! += 1;
    }
    // 2,000 expected per cell, σ ≈ 42: ±300 is seven σ, so a fair generator never fails this and a biased one
    // (say, no leading zeros, or digits drawn from a skewed range) always does.
    for (const row of counts) for (const n of row) expect(Math.abs(n - draws / 10)).toBeLessThan(300);
  });

  it('does not depend on Math.random', () => {
    const original = Math.random;
    Math.random = () => 0.5;
    try {
      const codes = new Set(Array.from({ length: 50 }, () => generateCode(6)));
      expect(codes.size).toBeGreaterThan(40);
    } finally {
      Math.random = original;
    }
  });
});

/**
 * A review-level guarantee, checked on the source: codes are drawn only by `crypto.randomInt` and hashes are
 * compared only by `hashesMatch`, whose one comparison is `crypto.timingSafeEqual`. A new `===` on a code or
 * a hash anywhere in src/verification fails this test.
 */
describe('the code paths', () => {
  const dir = path.resolve(__dirname, '../src/verification');
  // Comments may name what the code must not do; only the code itself is checked.
  const withoutComments = (source: string): string => source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const sources = Object.fromEntries(readdirSync(dir).map((f) => [f, withoutComments(readFileSync(path.join(dir, f), 'utf8'))]));
  const codes = sources['codes.ts']!;
  const body = (source: string, fn: string): string => {
    const start = source.indexOf(`export function ${fn}(`);
    return source.slice(start, source.indexOf('\n}\n', start));
  };

  it('draws codes from crypto.randomInt and compares hashes with crypto.timingSafeEqual only', () => {
    expect(codes).toMatch(/import \{[^}]*\brandomInt\b[^}]*\btimingSafeEqual\b[^}]*\} from 'node:crypto'/);
    expect(body(codes, 'generateCode')).toMatch(/\brandomInt\(0, 10 \*\* length\)/);
    const compare = body(codes, 'hashesMatch');
    expect(compare.match(/\btimingSafeEqual\(/g)).toHaveLength(1);
    // Lengths may be compared (they are public); contents only by timingSafeEqual.
    expect(compare.replace(/\w+\.length\s*[!=]==\s*\w+\.length/g, '')).not.toMatch(/[!=]==|\.equals\(|Buffer\.compare|\.compare\(/);
  });

  it.each(Object.keys(sources))('%s never compares a code or a hash with == or !=', (file) => {
    const offending = sources[file]!.split('\n').filter((line) =>
      /\b(code|codeHash|hash\w*)\b\s*[!=]==?|[!=]==?\s*\b(code|codeHash)\b/.test(line),
    );
    expect(offending).toEqual([]);
    expect(sources[file]).not.toMatch(/Math\.random/);
  });

  it('checks codes through hashesMatch', () => {
    expect(sources['verification-service.ts']).toMatch(/hashesMatch\(hashCode\(key, id, code\)/);
  });
});
