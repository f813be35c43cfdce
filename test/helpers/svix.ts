import { createHmac, randomBytes } from 'node:crypto';

/** Signs like Svix/Standard Webhooks: base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`. */
export function svixSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export function svixHeaders(
  secret: string,
  body: string,
  opts: { id?: string; timestamp?: number; extraSignatures?: string[] } = {},
): Record<string, string> {
  const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = [...(opts.extraSignatures ?? []), svixSignature(secret, id, timestamp, body)].join(' ');
  return {
    'content-type': 'application/json',
    'svix-id': id,
    'svix-timestamp': String(timestamp),
    'svix-signature': signature,
  };
}
