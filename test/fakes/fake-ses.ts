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
  /** GetEmailIdentity answers, by identity (domain or address); an identity absent answers NotFoundException. */
  identities: Map<string, Record<string, unknown>>;
  /** Sets the GetAccount answer (GET /v2/email/account). */
  setAccount(answer: Record<string, unknown>): void;
}

/** A domain identity as GetEmailIdentity returns it once SES has verified it (DKIM with Easy DKIM tokens). */
export function verifiedDomainIdentity(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    IdentityType: 'DOMAIN',
    FeedbackForwardingStatus: true,
    VerifiedForSendingStatus: true,
    VerificationStatus: 'SUCCESS',
    DkimAttributes: {
      SigningEnabled: true,
      Status: 'SUCCESS',
      Tokens: ['tok1abc', 'tok2def', 'tok3ghi'],
      SigningAttributesOrigin: 'AWS_SES',
      CurrentSigningKeyLength: 'RSA_2048_BIT',
    },
    Policies: {},
    Tags: [],
    ...overrides,
  };
}

/**
 * The SESv2 SendEmail API as its REST-JSON protocol has it: `POST /v2/email/outbound-emails`, SigV4-signed
 * for service `ses` (the credential scope is checked, the signature itself is not recomputed), 200
 * `{"MessageId"}`; errors named in `x-amzn-ErrorType` with `{"message"}`. Also GetEmailIdentity
 * (`GET /v2/email/identities/{EmailIdentity}`) and GetAccount (`GET /v2/email/account`), for the doctor.
 */
export async function startFakeSes(region: string): Promise<FakeSes> {
  const queued: FakeResponse[] = [];
  const error = (status: number, type: string, message: string): FakeResponse => ({
    status,
    headers: {
      'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/`,
      'x-amzn-requestid': randomBytes(8).toString('hex'),
    },
    body: { message },
  });
  const scope = new RegExp(
    `^AWS4-HMAC-SHA256 Credential=${FAKE_AWS_ACCESS_KEY_ID}/\\d{8}/${region}/ses/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`,
  );
  const identities = new Map<string, Record<string, unknown>>();
  const state = {
    account: {
      SendingEnabled: true,
      ProductionAccessEnabled: true,
      EnforcementStatus: 'HEALTHY',
      DedicatedIpAutoWarmupEnabled: false,
      SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 0 },
    } as Record<string, unknown>,
  };
  const ok = (body: unknown): FakeResponse => ({ status: 200, headers: { 'x-amzn-requestid': randomBytes(8).toString('hex') }, body });
  const server = await startFakeServer((req) => {
    if (!scope.test(req.headers.authorization ?? ''))
      return error(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (req.method === 'GET' && req.path === '/v2/email/account') return ok(state.account);
    const identity = /^\/v2\/email\/identities\/([^/]+)$/.exec(req.path);
    if (req.method === 'GET' && identity) {
      const name = decodeURIComponent(identity[1]!);
      const found = identities.get(name);
      return found ? ok(found) : error(404, 'NotFoundException', `Email identity ${name} does not exist.`);
    }
    if (req.method !== 'POST' || req.path !== '/v2/email/outbound-emails') return error(404, 'NotFoundException', 'Not found');
    const next = queued.shift();
    if (next) return next;
    const to = req.json?.Destination?.ToAddresses;
    if (!Array.isArray(to) || to.length === 0 || !req.json?.FromEmailAddress)
      return error(400, 'BadRequestException', 'Missing destination or sender');
    return {
      status: 200,
      headers: { 'x-amzn-requestid': randomBytes(8).toString('hex') },
      body: { MessageId: `0100${randomBytes(12).toString('hex')}-${randomBytes(4).toString('hex')}-000000` },
    };
  });
  return Object.assign(server, {
    identities,
    setAccount: (answer: Record<string, unknown>) => void (state.account = answer),
    sends: () => server.requests.filter((r) => r.method === 'POST' && r.path === '/v2/email/outbound-emails'),
    failNext: (...errors: { status: number; type: string; message?: string }[]) =>
      void queued.push(...errors.map((e) => error(e.status, e.type, e.message ?? e.type))),
    hangNext: () => void queued.push({ status: 0, hang: true }),
  });
}
