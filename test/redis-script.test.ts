import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisScript, runScript } from '../src/lib/redis-script';
import { TEST_REDIS_URL } from './helpers/config';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(() => redis.quit());

describe('runScript', () => {
  it('runs a script the server does not hold yet (sending its text once), then by its SHA1', async () => {
    const key = `test-script-${randomBytes(4).toString('hex')}`;
    // A script no server has seen: the first call finds it missing.
    const script = redisScript(`-- ${key}\nreturn redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])`);
    expect(await redis.script('EXISTS', script.sha)).toEqual([0]);
    expect(await runScript(redis, script, [key], [10])).toBe(11);
    expect(await redis.script('EXISTS', script.sha)).toEqual([1]);
    expect(await runScript(redis, script, [key], [10])).toBe(12);
    await redis.del(key);
  });

  it('passes on any error that is not a missing script', async () => {
    const script = redisScript(`return redis.error_reply('BROKEN ${randomBytes(4).toString('hex')}')`);
    await expect(runScript(redis, script, ['k'], [])).rejects.toThrow(/^BROKEN/);
  });
});
