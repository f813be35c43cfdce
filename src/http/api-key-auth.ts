import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { NotConfiguredError, UnauthorizedError } from '../lib/errors';
import { bearerToken, sha256 } from './admin-auth';

declare module 'express-serve-static-core' {
  interface Request {
    /** Which API key authenticated the request: a short prefix of its hash, safe to log and to scope by. */
    apiKeyId?: string;
  }
}

/**
 * `/v1/*`: `Authorization: Bearer <key>` against API_KEYS. Only SHA-256 hashes of the keys are kept in memory;
 * the presented key's hash is compared with every one of them in constant time, without stopping at a match.
 */
export function requireApiKey(apiKeys: string | undefined): RequestHandler {
  const hashes = (apiKeys ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map(sha256);
  return (req, _res, next) => {
    if (hashes.length === 0) throw new NotConfiguredError('Set API_KEYS (comma-separated) to use the /v1 API');
    const token = bearerToken(req.get('authorization'));
    if (!token) throw new UnauthorizedError('Missing API key: send Authorization: Bearer <key>');
    const presented = sha256(token);
    let matched: Buffer | undefined;
    for (const hash of hashes) {
      if (timingSafeEqual(presented, hash)) matched = hash;
    }
    if (!matched) throw new UnauthorizedError('Wrong API key');
    req.apiKeyId = `key_${matched.toString('hex').slice(0, 12)}`;
    next();
  };
}
