import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../lib/redis';
import { safeEqual } from '../http/admin-auth';

export const SESSION_COOKIE = 'relay_session';
/** Double-submit token for the login form, which has no session yet to hold one. */
export const LOGIN_CSRF_COOKIE = 'relay_login_csrf';
export const SESSION_TTL_SECONDS = 12 * 3600;

export interface Session {
  csrf: string;
}

export type Sessions = ReturnType<typeof createSessions>;

const token = (): string => randomBytes(32).toString('base64url');

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * Dashboard sessions live in Redis under a hash of their id (a leaked Redis dump holds no usable cookie) and
 * expire on their own; logging out deletes them. Each session carries its CSRF token. Sessions belong to the
 * ADMIN_TOKEN they were opened with: changing a leaked token ends every session opened with it.
 */
export function createSessions({ redis, prefix, adminToken }: { redis: RedisClient; prefix: string; adminToken: string }) {
  const namespace = `${prefix}:dashboard:session:${sha256(adminToken).slice(0, 16)}`;
  const key = (id: string): string => `${namespace}:${sha256(id)}`;
  const ttlSeconds = SESSION_TTL_SECONDS;

  return {
    async create(): Promise<{ id: string; session: Session }> {
      const id = token();
      const session = { csrf: token() };
      await redis.set(key(id), JSON.stringify(session), 'EX', ttlSeconds);
      return { id, session };
    },
    async get(id: string | undefined): Promise<Session | null> {
      if (!id || id.length > 100) return null;
      const raw = await redis.get(key(id));
      return raw ? (JSON.parse(raw) as Session) : null;
    },
    async destroy(id: string | undefined): Promise<void> {
      if (id) await redis.del(key(id));
    },
    newToken: token,
  };
}

export function csrfMatches(expected: string | undefined, given: unknown): boolean {
  return typeof expected === 'string' && typeof given === 'string' && given.length > 0 && safeEqual(expected, given);
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      // A cookie we did not set; ignore it.
    }
  }
  return out;
}
