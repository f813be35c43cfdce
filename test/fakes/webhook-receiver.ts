import { Webhook } from 'standardwebhooks';
import { startFakeServer, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

/** One event as a tenant's server saw it, verified with the `standardwebhooks` package as a tenant would. */
export interface ReceivedEvent {
  id: string;
  type: string;
  created_at: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
  request: RecordedRequest;
}

export interface WebhookReceiver {
  server: FakeServer;
  url: string;
  /** Events whose signature verified, in arrival order. */
  verified: ReceivedEvent[];
  /** Requests whose signature did not verify. */
  rejected: RecordedRequest[];
  /** How to answer each verified request (default 200 `{"ok":true}`); the count of requests so far is passed in. */
  answer(next: (request: RecordedRequest, index: number) => FakeResponse): void;
  setSecret(secret: string): void;
  close(): Promise<void>;
}

/** A tenant's endpoint: verifies every request against the endpoint's secret and answers 401 when it fails. */
export async function startWebhookReceiver(secret = ''): Promise<WebhookReceiver> {
  let current = secret;
  let answer: (request: RecordedRequest, index: number) => FakeResponse = () => ({ status: 200, body: { ok: true } });
  const verified: ReceivedEvent[] = [];
  const rejected: RecordedRequest[] = [];
  const server = await startFakeServer((request) => {
    try {
      const event = new Webhook(current).verify(request.body, request.headers) as Omit<ReceivedEvent, 'id' | 'request'>;
      verified.push({ ...event, id: request.headers['webhook-id']!, request });
    } catch {
      rejected.push(request);
      return { status: 401, body: { error: 'bad signature' } };
    }
    return answer(request, server.requests.length - 1);
  });
  return {
    server,
    url: `${server.url}/hooks`,
    verified,
    rejected,
    answer(next) {
      answer = next;
    },
    setSecret(next) {
      current = next;
    },
    close: () => server.close(),
  };
}
