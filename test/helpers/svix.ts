import { createHmac, randomBytes } from 'node:crypto';

/** Signs like Svix/Standard Webhooks: base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`. */
export function svixSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export interface SignOptions {
  id?: string;
  timestamp?: number;
  extraSignatures?: string[];
  /** `svix` as Clerk and Resend send them, `webhook` (Standard Webhooks) as Supabase does. */
  headerPrefix?: 'svix' | 'webhook';
}

export function svixHeaders(secret: string, body: string, opts: SignOptions = {}): Record<string, string> {
  const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = [...(opts.extraSignatures ?? []), svixSignature(secret, id, timestamp, body)].join(' ');
  const prefix = opts.headerPrefix ?? 'svix';
  return {
    'content-type': 'application/json',
    [`${prefix}-id`]: id,
    [`${prefix}-timestamp`]: String(timestamp),
    [`${prefix}-signature`]: signature,
  };
}
