import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'svix';
import { UnauthorizedError } from './errors';

export interface SvixVerifier {
  /** Throws UnauthorizedError unless the raw body carries a valid signature from within ±5 minutes. */
  verify(rawBody: Buffer, headers: IncomingHttpHeaders): { id: string; timestamp: number };
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(' ') : v;
  }
  return out;
}

/**
 * Svix (Clerk, Resend) signs `${id}.${timestamp}.${raw body}`; during secret rotation the header carries
 * several `v1,` signatures and any match is accepted. svix 2.x verifies without parsing the body.
 */
export function createSvixVerifier(secret: string): SvixVerifier {
  const webhook = new Webhook(secret);
  return {
    verify(rawBody, headers) {
      const flat = flatten(headers);
      try {
        webhook.verify(rawBody, flat);
      } catch (err) {
        throw new UnauthorizedError(`Webhook signature rejected: ${(err as Error).message}`, 'invalid_signature');
      }
      return {
        id: flat['svix-id'] ?? flat['webhook-id']!,
        timestamp: Number(flat['svix-timestamp'] ?? flat['webhook-timestamp']),
      };
    },
  };
}
