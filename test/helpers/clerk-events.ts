import { randomBytes } from 'node:crypto';
import { TEST_CLERK_SECRET } from './config';
import { svixHeaders } from './svix';

const rid = (): string => randomBytes(6).toString('hex');

/** A self-delivered `email.created` for a verification code, shaped like clerk.md §7.1. */
export function emailCreated(overrides: { data?: Record<string, unknown>; otp?: string; to?: string } = {}) {
  const otp = overrides.otp ?? '482913';
  return {
    type: 'email.created',
    object: 'event',
    instance_id: 'ins_test',
    timestamp: Date.now(),
    event_attributes: { http_request: { client_ip: '203.0.113.42', user_agent: 'test' } },
    data: {
      object: 'email',
      id: `ema_${rid()}`,
      slug: 'verification_code',
      status: 'queued',
      from_email_name: 'notifications',
      reply_to_email_name: null,
      to_email_address: overrides.to ?? `user-${rid()}@example.com`,
      email_address_id: `idn_${rid()}`,
      user_id: `user_${rid()}`,
      subject: `${otp} is your verification code`,
      body: `<!DOCTYPE html><html><body><p>Your Acme verification code:</p><p><b>${otp}</b></p></body></html>`,
      body_plain: `${otp} is your Acme verification code.\n`,
      delivered_by_clerk: false,
      data: {
        otp_code: otp,
        requested_at: '28 August 2025, 13:52 UTC',
        requested_by: 'Chrome, macOS',
        app: { name: 'Acme', domain_name: 'acme.example', url: 'https://accounts.acme.example' },
      },
      ...overrides.data,
    },
  };
}

/** A self-delivered `sms.created` (clerk.md §7.2): the code is only inside the rendered text. */
export function smsCreated(overrides: { data?: Record<string, unknown> } = {}) {
  return {
    type: 'sms.created',
    object: 'event',
    instance_id: 'ins_test',
    timestamp: Date.now(),
    data: {
      object: 'sms_message',
      id: `sms_${rid()}`,
      slug: 'verification_code',
      from_phone_number: '+15555550100',
      to_phone_number: '+447700900123',
      phone_number_id: `idn_${rid()}`,
      user_id: `user_${rid()}`,
      message: 'Your Acme verification code is 739204',
      status: 'queued',
      delivered_by_clerk: false,
      data: {},
      ...overrides.data,
    },
  };
}

type Request = (path: string, init: RequestInit) => Promise<Response>;

/** Posts a Clerk event to a running auth-relay (a harness's `request`, or fetch on its base URL), signed with the test secret. */
export function postClerkEvent(request: Request, event: unknown): Promise<Response> {
  const body = JSON.stringify(event);
  return request('/webhooks/clerk', { method: 'POST', headers: svixHeaders(TEST_CLERK_SECRET, body), body });
}

/** Posts a new Clerk event, expects it accepted (202) and returns the id of the message it recorded. */
export async function acceptClerkEvent(request: Request, event: unknown): Promise<string> {
  const res = await postClerkEvent(request, event);
  expect(res.status).toBe(202);
  return ((await res.json()) as { message_id: string }).message_id;
}
