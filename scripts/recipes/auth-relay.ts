// The two calls every recipe makes. Copy this file into your app; it needs nothing but fetch (Node 18+).
const AUTH_RELAY_URL = process.env.AUTH_RELAY_URL ?? 'http://localhost:3000';
const AUTH_RELAY_API_KEY = process.env.AUTH_RELAY_API_KEY ?? '';

export type Purpose = 'login' | '2fa' | 'email_verification' | 'phone_verification' | 'magic_link' | 'password_reset';

async function call(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${AUTH_RELAY_URL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${AUTH_RELAY_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Issues a code and sends it. Pass the end user's IP so the per-IP limit applies to them, not to your server. */
export async function sendCode(input: {
  channel: 'email' | 'sms';
  to: string;
  purpose: Purpose;
  clientIp?: string;
  /** For SMS: where to send the same code if the SMS fails. */
  fallbackEmail?: string;
}): Promise<{ ok: true; verificationId: string } | { ok: false; error: string; retryAfter?: number }> {
  const { status, body } = await call('/v1/verifications', {
    channel: input.channel,
    to: input.to,
    purpose: input.purpose,
    ...(input.clientIp ? { client_ip: input.clientIp } : {}),
    ...(input.fallbackEmail ? { email: input.fallbackEmail } : {}),
  });
  if (status === 201) return { ok: true, verificationId: body.verification_id };
  return { ok: false, error: body.error.code, retryAfter: body.error.details?.retry_after };
}

/** True only for the right, unexpired, unused code; auth-relay counts the attempts and burns the code after 5. */
export async function checkCode(input: { to: string; purpose: Purpose; code: string; clientIp?: string }): Promise<boolean> {
  const { status } = await call('/v1/verifications/check', {
    to: input.to,
    purpose: input.purpose,
    code: input.code,
    // With the end user's IP, auth-relay also limits wrong codes per IP across every recipient.
    ...(input.clientIp ? { client_ip: input.clientIp } : {}),
  });
  return status === 200;
}
