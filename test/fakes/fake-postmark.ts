import { randomUUID } from 'node:crypto';
import { startFakeServer, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

export const POSTMARK_TOKEN = 'pm-server-token-0123456789';

export interface FakePostmark extends FakeServer {
  /** Sends received (POST /email). */
  sends(): RecordedRequest[];
  /** Answer the next sends with `{ErrorCode, Message}` under this HTTP status, one per request. */
  failNext(...errors: { status: number; errorCode: number; message?: string }[]): void;
  hangNext(): void;
}

/**
 * Postmark's email API as documented: `POST /email` with `X-Postmark-Server-Token`, 200
 * `{To, SubmittedAt, MessageID, ErrorCode: 0, Message: "OK"}`; errors as `{ErrorCode, Message}`, 401 with
 * ErrorCode 10 for a bad token, 422 for API errors (406: inactive recipient; 300: invalid request).
 */
export async function startFakePostmark(): Promise<FakePostmark> {
  const queued: FakeResponse[] = [];
  const server = await startFakeServer((req) => {
    if (req.headers['x-postmark-server-token'] !== POSTMARK_TOKEN) {
      return { status: 401, body: { ErrorCode: 10, Message: 'The Server Token you provided in the X-Postmark-Server-Token request header was invalid.' } };
    }
    if (req.method !== 'POST' || req.path !== '/email') return { status: 404, body: { ErrorCode: 404, Message: 'Not found' } };
    const next = queued.shift();
    if (next) return next;
    if (!req.json?.From || !req.json?.To || (!req.json?.HtmlBody && !req.json?.TextBody)) {
      return { status: 422, body: { ErrorCode: 300, Message: 'Invalid email request' } };
    }
    return { status: 200, body: { To: req.json.To, SubmittedAt: new Date().toISOString(), MessageID: randomUUID(), ErrorCode: 0, Message: 'OK' } };
  });
  return Object.assign(server, {
    sends: () => server.requests.filter((r) => r.method === 'POST' && r.path === '/email'),
    failNext: (...errors: { status: number; errorCode: number; message?: string }[]) =>
      void queued.push(...errors.map((e) => ({ status: e.status, body: { ErrorCode: e.errorCode, Message: e.message ?? `error ${e.errorCode}` } }))),
    hangNext: () => void queued.push({ status: 0, hang: true }),
  });
}
