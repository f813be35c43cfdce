import { createHash } from 'node:crypto';
import type { RedisClient } from './redis';

/**
 * A Lua script run by its SHA1 (EVALSHA): a call sends the script's 40-character digest, not its whole text,
 * and Redis neither re-reads nor re-hashes it. What runs on every send (the provider gate) is kilobytes of Lua.
 */
export interface RedisScript {
  lua: string;
  sha: string;
}

export const redisScript = (lua: string): RedisScript => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });

/** Runs `script`; a server that does not hold it yet (first call, restart, failover) gets its text once. */
export async function runScript(redis: RedisClient, script: RedisScript, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}
