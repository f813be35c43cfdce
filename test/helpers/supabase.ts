import { randomBytes, randomUUID } from 'node:crypto';
import { svixHeaders, type SignOptions } from './svix';

/** As Supabase shows a hook secret: `v1,whsec_<base64>`. */
export const newSupabaseSecret = (): string => `v1,whsec_${randomBytes(32).toString('base64')}`;

/** Standard Webhooks headers as GoTrue sends them (`webhook-*`, unix seconds, `v1,<base64>` signatures). */
export function standardWebhookHeaders(secret: string, body: string, opts: Omit<SignOptions, 'headerPrefix'> = {}): Record<string, string> {
  return svixHeaders(secret.replace(/^v1,/, ''), body, { ...opts, headerPrefix: 'webhook' });
}

const user = (overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  aud: 'authenticated',
  role: 'authenticated',
  email: `user-${randomBytes(4).toString('hex')}@example.com`,
  phone: '',
  app_metadata: { provider: 'email', providers: ['email'] },
  user_metadata: {},
  identities: [],
  created_at: '2026-11-21T12:00:00Z',
  updated_at: '2026-11-21T12:00:00Z',
  ...overrides,
});

/** A Send Email hook payload (anchors.md §4), with `metadata` unless `withMetadata: false` (pre-Feb-2026 payloads). */
export function sendEmailHook(
  action: string,
  opts: { user?: Record<string, unknown>; email_data?: Record<string, unknown>; withMetadata?: boolean } = {},
) {
  return {
    ...(opts.withMetadata === false
      ? {}
      : { metadata: { uuid: randomUUID(), time: new Date().toISOString(), name: 'send-email', ip_address: '203.0.113.9' } }),
    user: user(opts.user),
    email_data: {
      token: '305805',
      token_hash: `pkce_${randomBytes(28).toString('hex')}`,
      redirect_to: 'https://app.example.com/welcome',
      email_action_type: action,
      site_url: 'https://abcdefgh.supabase.co',
      token_new: '',
      token_hash_new: '',
      ...opts.email_data,
    },
  };
}

export function sendSmsHook(opts: { otp?: string; phone?: string; withMetadata?: boolean; user?: Record<string, unknown> } = {}) {
  return {
    ...(opts.withMetadata === false ? {} : { metadata: { uuid: randomUUID(), time: new Date().toISOString(), name: 'send-sms' } }),
    user: user({ phone: opts.phone ?? '447700900456', ...opts.user }),
    sms: { otp: opts.otp ?? '561166', sms_type: 'otp' },
  };
}
