import { randomBytes } from 'node:crypto';
import { startFakeServer, type FakeResponse, type RecordedRequest } from './fake-http-server';

/** What the fake does with the next send. */
export type Behaviour =
  | { kind: 'ok'; latencyMs?: number; /** The legacy success body, for providers documenting two. */ legacy?: boolean }
  | { kind: 'error'; status: number; code: string; message?: string; headers?: Record<string, string>; body?: unknown }
  | { kind: 'hang' };

export interface Delivery {
  id: string;
  idempotencyKey: string | undefined;
  request: RecordedRequest;
}

export interface IdempotentFake {
  url: string;
  /** Every request, in arrival order, whatever was answered. */
  requests: RecordedRequest[];
  /** What actually "went out": one per idempotency key, as the real provider would send. */
  deliveries: Delivery[];
  /** The behaviour for requests once the script has run out. */
  setDefault(behaviour: Behaviour): void;
  /** One behaviour per coming request, in order, before falling back to the default. */
  script(...behaviours: Behaviour[]): void;
  /**
   * Takes every new idempotency key at once (it counts as sent) but answers its first request only after
   * `ms`, as a provider that is slow to answer; repeats of the key are answered as usual. 0 turns it off.
   */
  delayFirstAnswers(ms: number): void;
  close(): Promise<void>;
}

export interface ProviderDialect {
  /** Path of the send endpoint. */
  path: string;
  apiKey: string;
  newId(): string;
  success(id: string, legacy: boolean): unknown;
  error(status: number, code: string, message: string): unknown;
  /** Names of the rate-limit headers (`ratelimit-` or `x-ratelimit-`). */
  rateLimitHeaders(limit: number, remaining: number, resetSeconds: number): Record<string, string>;
}

export const hexId = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Requests per second before answering 429 `rate_limit_exceeded`, as the real API would. */
const PER_SECOND = 1000;

/**
 * A provider that keeps idempotency keys the way Resend documents it: a repeat of a key it has sent
 * answers the original id and sends nothing; a repeat while the first is still being answered gets 409
 * `concurrent_idempotent_requests`; the same key with another body gets 409 `invalid_idempotent_request`. An accepted message counts as sent even if the client gave up waiting.
 */
export async function startIdempotentFake(dialect: ProviderDialect): Promise<IdempotentFake> {
  let fallback: Behaviour = { kind: 'ok' };
  let firstAnswerDelayMs = 0;
  const script: Behaviour[] = [];
  let window = { second: 0, count: 0 };
  const deliveries: Delivery[] = [];
  const byKey = new Map<string, { id: string; answeredAt: number; body: string }>();

  const json = (status: number, body: unknown, headers: Record<string, string> = {}, delayMs?: number): FakeResponse => ({
    status,
    body,
    headers,
    ...(delayMs ? { delayMs } : {}),
  });

  const server = await startFakeServer((req) => {
    if (req.method !== 'POST' || req.path !== dialect.path) return json(404, dialect.error(404, 'not_found', 'Not found'));
    if (req.headers.authorization !== `Bearer ${dialect.apiKey}`) {
      return json(401, dialect.error(401, 'invalid_api_key', 'API key is invalid'));
    }
    const second = Math.floor(req.receivedAt / 1000);
    if (window.second !== second) window = { second, count: 0 };
    window.count += 1;
    const remaining = Math.max(0, PER_SECOND - window.count);
    const limitHeaders = dialect.rateLimitHeaders(PER_SECOND, remaining, 1);
    if (window.count > PER_SECOND) {
      return json(429, dialect.error(429, 'rate_limit_exceeded', 'Too many requests'), { ...limitHeaders, 'retry-after': '1' });
    }

    const behaviour = script.shift() ?? fallback;
    if (behaviour.kind === 'hang') return { status: 0, hang: true };
    if (behaviour.kind === 'error') {
      return json(
        behaviour.status,
        behaviour.body ?? dialect.error(behaviour.status, behaviour.code, behaviour.message ?? behaviour.code),
        {
          ...limitHeaders,
          ...behaviour.headers,
        },
      );
    }
    const key = req.headers['idempotency-key'];
    const latency = behaviour.latencyMs ?? 0;
    const seen = key ? byKey.get(key) : undefined;
    if (seen && seen.body !== req.body) {
      return json(
        409,
        dialect.error(409, 'invalid_idempotent_request', 'Same idempotency key used with a different payload'),
        limitHeaders,
      );
    }
    if (seen) {
      if (seen.answeredAt > req.receivedAt) {
        return json(409, dialect.error(409, 'concurrent_idempotent_requests', 'Same idempotency key still in progress'), limitHeaders);
      }
      return json(200, dialect.success(seen.id, behaviour.legacy ?? false), limitHeaders, latency);
    }
    const id = dialect.newId();
    const firstLatency = Math.max(latency, firstAnswerDelayMs);
    deliveries.push({ id, idempotencyKey: key, request: req });
    if (key) byKey.set(key, { id, answeredAt: req.receivedAt + firstLatency, body: req.body });
    return json(200, dialect.success(id, behaviour.legacy ?? false), limitHeaders, firstLatency);
  });

  return {
    url: server.url,
    requests: server.requests,
    deliveries,
    setDefault(behaviour) {
      fallback = behaviour;
    },
    delayFirstAnswers(ms) {
      firstAnswerDelayMs = ms;
    },
    script(...behaviours) {
      script.push(...behaviours);
    },
    close: () => server.close(),
  };
}
