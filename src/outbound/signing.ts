import { randomBytes } from 'node:crypto';
import { svixKey, svixSignature } from '../lib/svix';

/**
 * Standard Webhooks signing (the spec svix and `standardwebhooks` verify): `v1,` + base64 HMAC-SHA256 of
 * `${id}.${timestamp}.${body}` under the secret's base64-decoded bytes. During a rotation each live secret
 * signs, space-separated in the one header, and a receiver holding either verifies.
 */

/** 24 random bytes, as Svix's own secrets: `whsec_` + 32 base64 characters. */
export const newSigningSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

const signature = (secret: string, id: string, timestamp: number, body: string): string =>
  `v1,${svixSignature(svixKey(secret), id, timestamp, body)}`;

export function signedHeaders(secrets: string[], id: string, timestamp: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'auth-relay-webhooks',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signature(s, id, timestamp, body)).join(' '),
  };
}
