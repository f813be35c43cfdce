import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a fake provider received, for assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  receivedAt: number;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON (Content-Type exactly `application/json`, as Clerk's SDK requires) unless a string. */
  body?: unknown;
  /** Answer after this long (to simulate a slow provider). */
  delayMs?: number;
  /** Never answer: the client must time out. */
  hang?: boolean;
}

export type FakeHandler = (req: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  /** Replace the behaviour mid-test (e.g. a provider that recovers). */
  setHandler(handler: FakeHandler): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A plain HTTP server standing in for an external API; the real SDK or client is pointed at `url`. */
export async function startFakeServer(handler: FakeHandler): Promise<FakeServer> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer(async (req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    let parsed: unknown;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      parsed = undefined;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
      body,
      json: parsed,
      receivedAt: Date.now(),
    };
    requests.push(recorded);
    const answer = await current(recorded);
    if (answer.hang) return;
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body);
    const headers: Record<string, string> = { ...answer.headers };
    if (typeof answer.body !== 'string' && answer.body !== undefined && !headers['content-type']) {
      headers['content-type'] = 'application/json';
    }
    res.writeHead(answer.status, headers).end(text);
  });
  // Node's default 5 s, as a provider's API keeps a connection: fetch (undici) does not reuse one whose
  // announced `Keep-Alive: timeout` is under its 2 s margin, so the 1 s this once set made every send a new
  // connection, costing the relay a connect and a close per message in every test and bench.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    setHandler(next) {
      current = next;
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
