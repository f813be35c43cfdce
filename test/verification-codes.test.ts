// Node's crypto, observed (every call goes through to the real function): the assertions are about which
// primitives the code helpers use, not about timings.
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof import('node:crypto')>('node:crypto');
  return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual), randomInt: jest.fn(actual.randomInt) };
});

import { randomInt, timingSafeEqual } from 'node:crypto';
import { generateCode, hashCode, hashesMatch } from '../src/verification/codes';

const timingSafeEqualMock = timingSafeEqual as jest.MockedFunction<typeof timingSafeEqual>;

beforeEach(() => jest.clearAllMocks());

describe('hashesMatch', () => {
  const a = hashCode('secret', 'ver_1', '123456');

  it.each([
    ['equal', a, true],
    ['unequal, same length', hashCode('secret', 'ver_1', '123457'), false],
    ['shorter', a.slice(0, 63), false],
    ['empty', '', false],
    ['longer', `${a}0`, false],
  ])('%s → %s, through timingSafeEqual on equal-length buffers', (_label, other, expected) => {
    expect(hashesMatch(a, other)).toBe(expected);
    expect(timingSafeEqualMock).toHaveBeenCalledTimes(1);
    const [x, y] = timingSafeEqualMock.mock.calls[0]! as [Buffer, Buffer];
    expect(x.length).toBe(y.length);
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
  it('draws from crypto.randomInt over the whole range, zero-padded', () => {
    expect(generateCode(6)).toMatch(/^\d{6}$/);
    expect(generateCode(8)).toMatch(/^\d{8}$/);
    expect(randomInt).toHaveBeenCalledWith(0, 1_000_000);
    expect(randomInt).toHaveBeenCalledWith(0, 100_000_000);
  });

  it('keeps leading zeros', () => {
    (randomInt as unknown as jest.Mock).mockReturnValueOnce(42);
    expect(generateCode(6)).toBe('000042');
  });
});
