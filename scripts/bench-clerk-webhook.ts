import { createHmac, randomBytes } from 'node:crypto';

/** A new, signed, self-delivered `email.created` for a verification code, as Clerk posts it (clerk.md §7.1). */
export function signedClerkWebhook(secret: string): { body: string; headers: Record<string, string> } {
  const id = randomBytes(8).toString('hex');
  const body = JSON.stringify({
    type: 'email.created',
    object: 'event',
    instance_id: 'ins_bench',
    timestamp: Date.now(),
    data: {
      object: 'email',
      id: `ema_${id}`,
      slug: 'verification_code',
      from_email_name: 'notifications',
      to_email_address: `user-${id}@example.com`,
      user_id: `user_${id}`,
      subject: '482913 is your verification code',
      body: '<!DOCTYPE html><html><body><p>Your Acme verification code:</p><p><b>482913</b></p></body></html>',
      body_plain: '482913 is your Acme verification code.',
      delivered_by_clerk: false,
      data: { otp_code: '482913', app: { name: 'Acme' } },
    },
  });
  const svixId = `msg_${randomBytes(8).toString('hex')}`;
  const ts = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64'))
    .update(`${svixId}.${ts}.${body}`)
    .digest('base64');
  return {
    body,
    headers: { 'content-type': 'application/json', 'svix-id': svixId, 'svix-timestamp': String(ts), 'svix-signature': `v1,${signature}` },
  };
}
