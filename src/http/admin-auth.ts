import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { NotConfiguredError, UnauthorizedError } from '../lib/errors';

export const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compares in constant time whatever the lengths (both sides are hashed to 32 bytes first). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** `/api/*`: `Authorization: Bearer <ADMIN_TOKEN>`; without ADMIN_TOKEN set, these routes are off. */
export function requireAdminToken(adminToken: string | undefined): RequestHandler {
  return (req, _res, next) => {
    if (!adminToken) throw new NotConfiguredError('Set ADMIN_TOKEN to use the admin API and the dashboard');
    const token = bearerToken(req.get('authorization'));
    if (!token || !safeEqual(token, adminToken)) throw new UnauthorizedError('Missing or wrong admin token');
    next();
  };
}
