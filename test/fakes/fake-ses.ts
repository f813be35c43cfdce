import { randomBytes } from 'node:crypto';
import { startFakeServer, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

export const FAKE_AWS_ACCESS_KEY_ID = 'AKIAFAKESES000000001';
export const FAKE_AWS_SECRET_ACCESS_KEY = 'fake-ses-secret-key-0123456789';

export interface FakeSes extends FakeServer {
  /** SendEmail calls received (POST /v2/email/outbound-emails). */
  sends(): RecordedRequest[];
  /** Answer the next sends with an SES error: `x-amzn-ErrorType` names it, the body carries its message. */
  failNext(...errors: { status: number; type: string; message?: string }[]): void;
  hangNext(): void;
}

/**
 * The SESv2 SendEmail API as its REST-JSON protocol has it: `POST /v2/email/outbound-emails`, SigV4-signed
 * for service `ses` (the credential scope is checked, the signature itself is not recomputed), 200
 * `{"MessageId"}`; errors named in `x-amzn-ErrorType` with `{"message"}`.
 */
export async function startFakeSes(region: string): Promise<FakeSes> {
  const queued: FakeResponse[] = [];
  const error = (status: number, type: string, message: string): FakeResponse => ({
    status,
    headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/`, 'x-amzn-requestid': randomBytes(8).toString('hex') },
    body: { message },
  });
  const scope = new RegExp(`^AWS4-HMAC-SHA256 Credential=${FAKE_AWS_ACCESS_KEY_ID}/\\d{8}/${region}/ses/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`);
  const server = await startFakeServer((req) => {
    if (!scope.test(req.headers.authorization ?? '')) return error(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (req.method !== 'POST' || req.path !== '/v2/email/outbound-emails') return error(404, 'NotFoundException', 'Not found');
    const next = queued.shift();
    if (next) return next;
    const to = req.json?.Destination?.ToAddresses;
    if (!Array.isArray(to) || to.length === 0 || !req.json?.FromEmailAddress) return error(400, 'BadRequestException', 'Missing destination or sender');
    return { status: 200, headers: { 'x-amzn-requestid': randomBytes(8).toString('hex') }, body: { MessageId: `0100${randomBytes(12).toString('hex')}-${randomBytes(4).toString('hex')}-000000` } };
  });
  return Object.assign(server, {
    sends: () => server.requests.filter((r) => r.method === 'POST' && r.path === '/v2/email/outbound-emails'),
    failNext: (...errors: { status: number; type: string; message?: string }[]) =>
      void queued.push(...errors.map((e) => error(e.status, e.type, e.message ?? e.type))),
    hangNext: () => void queued.push({ status: 0, hang: true }),
  });
}
