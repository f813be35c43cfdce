import { randomUUID } from 'node:crypto';
import { startFakeServer, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

export const POSTMARK_TOKEN = 'pm-server-token-0123456789';
export const POSTMARK_ACCOUNT_TOKEN = 'pm-account-token-9876543210';

/** A domain as `GET /domains/{id}` returns it; the list (`GET /domains`) carries the verification flags only. */
export interface FakePostmarkDomain {
  ID: number;
  Name: string;
  DKIMVerified: boolean;
  ReturnPathDomainVerified: boolean;
}

/** A message stream as `GET /message-streams/{id}` returns it. */
export interface FakeMessageStream {
  ID: string;
  Name: string;
  MessageStreamType: 'Transactional' | 'Broadcasts' | 'Inbound';
  ArchivedAt: string | null;
}

export interface FakePostmark extends FakeServer {
  /** Sends received (POST /email). */
  sends(): RecordedRequest[];
  /** Answer the next sends with `{ErrorCode, Message}` under this HTTP status, one per request. */
  failNext(...errors: { status: number; errorCode: number; message?: string }[]): void;
  hangNext(): void;
  /** The server's message streams (`outbound` to start with) and the account's domains, for the doctor. */
  streams: FakeMessageStream[];
  domains: FakePostmarkDomain[];
}

const SERVER_ID = 1234;

function domainDetails(d: FakePostmarkDomain) {
  return {
    ...d,
    SPFVerified: false,
    WeakDKIM: false,
    DKIMHost: d.DKIMVerified ? `20240101000000pm._domainkey.${d.Name}` : '',
    DKIMTextValue: d.DKIMVerified ? 'k=rsa;p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCurrent' : '',
    DKIMPendingHost: d.DKIMVerified ? '' : `20260101000000pm._domainkey.${d.Name}`,
    DKIMPendingTextValue: d.DKIMVerified ? '' : 'k=rsa;p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQPending',
    DKIMRevokedHost: '',
    DKIMRevokedTextValue: '',
    SafeToRemoveRevokedKeyFromDNS: false,
    DKIMUpdateStatus: d.DKIMVerified ? 'Verified' : 'Pending',
    ReturnPathDomain: `pm-bounces.${d.Name}`,
    ReturnPathDomainCNAMEValue: 'pm.mtasv.net',
  };
}

/** `GET /domains` and `GET /domains/{id}` with `X-Postmark-Account-Token`, as Postmark's account API has them. */
function accountApi(req: RecordedRequest, domains: FakePostmarkDomain[]): FakeResponse {
  if (req.headers['x-postmark-account-token'] !== POSTMARK_ACCOUNT_TOKEN) {
    return {
      status: 401,
      body: { ErrorCode: 10, Message: 'The Account Token you provided in the X-Postmark-Account-Token request header was invalid.' },
    };
  }
  if (req.path === '/domains') {
    const count = Number(req.query.get('count'));
    const offset = Number(req.query.get('offset'));
    if (!(count > 0 && count <= 500) || !(offset >= 0))
      return { status: 422, body: { ErrorCode: 1203, Message: 'Count and offset are required, count at most 500.' } };
    const page = domains.slice(offset, offset + count).map(({ ID, Name, DKIMVerified, ReturnPathDomainVerified }) => ({
      ID,
      Name,
      SPFVerified: false,
      DKIMVerified,
      WeakDKIM: false,
      ReturnPathDomainVerified,
    }));
    return { status: 200, body: { TotalCount: domains.length, Domains: page } };
  }
  const id = /^\/domains\/(\d+)$/.exec(req.path);
  const domain = id && domains.find((d) => d.ID === Number(id[1]));
  return domain ? { status: 200, body: domainDetails(domain) } : { status: 422, body: { ErrorCode: 510, Message: 'Domain not found.' } };
}

/** `GET /server` and `GET /message-streams/{id}` with the server token. */
function serverApi(req: RecordedRequest, streams: FakeMessageStream[]): FakeResponse | null {
  if (req.method === 'GET' && req.path === '/server') {
    return {
      status: 200,
      body: {
        ID: SERVER_ID,
        Name: 'auth-relay production',
        ApiTokens: [POSTMARK_TOKEN],
        Color: 'blue',
        SmtpApiActivated: true,
        DeliveryType: 'Live',
        TrackOpens: false,
      },
    };
  }
  const id = /^\/message-streams\/([^/]+)$/.exec(req.path);
  if (req.method !== 'GET' || !id) return null;
  const stream = streams.find((s) => s.ID === decodeURIComponent(id[1]!));
  if (!stream) return { status: 422, body: { ErrorCode: 1226, Message: "The message stream for the provided 'ID' was not found." } };
  return {
    status: 200,
    body: {
      ...stream,
      ServerID: SERVER_ID,
      Description: null,
      CreatedAt: '2024-01-01T00:00:00-05:00',
      UpdatedAt: null,
      ExpectedPurgeDate: null,
      SubscriptionManagementConfiguration: { UnsubscribeHandlingType: 'None' },
    },
  };
}

/**
 * Postmark's email API as documented: `POST /email` with `X-Postmark-Server-Token`, 200
 * `{To, SubmittedAt, MessageID, ErrorCode: 0, Message: "OK"}`; errors as `{ErrorCode, Message}`, 401 with
 * ErrorCode 10 for a bad token, 422 for API errors (406: inactive recipient; 300: invalid request). For the
 * doctor also the server token's `GET /server` and `GET /message-streams/{id}` (1226: no such stream), and the
 * account token's domains API.
 */
export async function startFakePostmark(): Promise<FakePostmark> {
  const queued: FakeResponse[] = [];
  const streams: FakeMessageStream[] = [
    { ID: 'outbound', Name: 'Default Transactional Stream', MessageStreamType: 'Transactional', ArchivedAt: null },
  ];
  const domains: FakePostmarkDomain[] = [];
  const server = await startFakeServer((req) => {
    if (req.method === 'GET' && req.path.startsWith('/domains')) return accountApi(req, domains);
    if (req.headers['x-postmark-server-token'] !== POSTMARK_TOKEN) {
      return {
        status: 401,
        body: { ErrorCode: 10, Message: 'The Server Token you provided in the X-Postmark-Server-Token request header was invalid.' },
      };
    }
    const read = serverApi(req, streams);
    if (read) return read;
    if (req.method !== 'POST' || req.path !== '/email') return { status: 404, body: { ErrorCode: 404, Message: 'Not found' } };
    const next = queued.shift();
    if (next) return next;
    if (!req.json?.From || !req.json?.To || (!req.json?.HtmlBody && !req.json?.TextBody)) {
      return { status: 422, body: { ErrorCode: 300, Message: 'Invalid email request' } };
    }
    return {
      status: 200,
      body: { To: req.json.To, SubmittedAt: new Date().toISOString(), MessageID: randomUUID(), ErrorCode: 0, Message: 'OK' },
    };
  });
  return Object.assign(server, {
    streams,
    domains,
    sends: () => server.requests.filter((r) => r.method === 'POST' && r.path === '/email'),
    failNext: (...errors: { status: number; errorCode: number; message?: string }[]) =>
      void queued.push(
        ...errors.map((e) => ({ status: e.status, body: { ErrorCode: e.errorCode, Message: e.message ?? `error ${e.errorCode}` } })),
      ),
    hangNext: () => void queued.push({ status: 0, hang: true }),
  });
}
