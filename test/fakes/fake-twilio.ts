import { createHmac, randomBytes } from 'node:crypto';
import { startFakeServer, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

export const TWILIO_ACCOUNT_SID = `AC${'1a'.repeat(16)}`;
export const TWILIO_AUTH_TOKEN = 'twilio-test-auth-token-0123456789';
export const TWILIO_API_KEY = `SK${'2b'.repeat(16)}`;
export const TWILIO_API_SECRET = 'twilio-test-api-secret';
export const TWILIO_FROM = '+15005550006';

export interface FakeTwilio extends FakeServer {
  /** Message creations received (POST …/Messages.json), with their form parameters. */
  creates(): { request: RecordedRequest; params: URLSearchParams }[];
  /** Answer the next creations with a Twilio error (`{code, message, more_info, status}`), one per request. */
  failNext(...errors: { status: number; code: number; message?: string; headers?: Record<string, string> }[]): void;
  /** The next creation never gets an answer. */
  hangNext(): void;
}

const twilioError = (status: number, code: number, message: string): FakeResponse['body'] => ({
  code,
  message,
  more_info: `https://www.twilio.com/docs/errors/${code}`,
  status,
});

/**
 * Twilio's Messages API as documented: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded,
 * HTTP basic auth with the account SID and auth token or an API key and secret; 201 with the Message
 * resource; errors as `{code, message, more_info, status}` (20003 for bad credentials, 21211 for a bad To).
 */
export async function startFakeTwilio(): Promise<FakeTwilio> {
  const queued: FakeResponse[] = [];
  const path = `/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages.json`;
  const allowed = new Set([`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`, `${TWILIO_API_KEY}:${TWILIO_API_SECRET}`]);
  const server = await startFakeServer((req) => {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!basic || !allowed.has(Buffer.from(basic, 'base64').toString('utf8'))) {
      return { status: 401, headers: { 'www-authenticate': 'Basic realm="Twilio API"' }, body: twilioError(401, 20003, 'Authenticate') };
    }
    if (req.method !== 'POST' || req.path !== path)
      return { status: 404, body: twilioError(404, 20404, 'The requested resource was not found') };
    const next = queued.shift();
    if (next) return next;
    const params = new URLSearchParams(req.body);
    const to = params.get('To') ?? '';
    if (!/^\+[1-9]\d{6,14}$/.test(to))
      return { status: 400, body: twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`) };
    if (!params.get('From') && !params.get('MessagingServiceSid')) {
      return { status: 400, body: twilioError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message") };
    }
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const now = new Date().toUTCString();
    return {
      status: 201,
      body: {
        account_sid: TWILIO_ACCOUNT_SID,
        api_version: '2010-04-01',
        body: params.get('Body'),
        date_created: now,
        date_updated: now,
        date_sent: null,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: params.get('From'),
        messaging_service_sid: params.get('MessagingServiceSid'),
        num_media: '0',
        num_segments: '1',
        price: null,
        sid,
        status: params.get('MessagingServiceSid') ? 'accepted' : 'queued',
        to,
        uri: `${path.replace('.json', '')}/${sid}.json`,
      },
    };
  });
  return Object.assign(server, {
    creates: () =>
      server.requests
        .filter((r) => r.method === 'POST' && r.path === path)
        .map((request) => ({ request, params: new URLSearchParams(request.body) })),
    failNext: (...errors: { status: number; code: number; message?: string; headers?: Record<string, string> }[]) =>
      void queued.push(
        ...errors.map((e) => ({
          status: e.status,
          headers: e.headers,
          body: twilioError(e.status, e.code, e.message ?? `error ${e.code}`),
        })),
      ),
    hangNext: () => void queued.push({ status: 0, hang: true }),
  });
}

/**
 * X-Twilio-Signature as Twilio documents it: the full URL, then each POST parameter name and value
 * appended in name order, HMAC-SHA1 with the auth token, base64.
 */
export function twilioSignature(url: string, params: Record<string, string>, authToken = TWILIO_AUTH_TOKEN): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64');
}

/** A signed status callback, as Twilio posts it to `url`. */
export function signedTwilioCallback(url: string, params: Record<string, string>, authToken = TWILIO_AUTH_TOKEN) {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(url, params, authToken) },
    body: new URLSearchParams(params).toString(),
  };
}
