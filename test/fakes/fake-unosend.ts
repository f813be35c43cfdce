import { startFakeServer, type FakeHandler, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

export const FAKE_UNOSEND_KEY = 'un_test_key_0123456789';

/** Which of the two documented success shapes to answer with (providers.md §7.1). */
export type UnosendShape = 'array' | 'object';

export interface FakeUnosend extends FakeServer {
  /** The SMS sends received (POST /sms). */
  sends(): RecordedRequest[];
  /** Answer the next sends with this instead of success (one entry per request, then success again). */
  failNext(...responses: FakeResponse[]): void;
  setShape(shape: UnosendShape): void;
}

/** Unosend's SMS API as documented: Bearer key, E.164 `to`, `body` ≤ 1600 chars, one `data` entry per recipient. */
export async function startFakeUnosend(): Promise<FakeUnosend> {
  const queued: FakeResponse[] = [];
  let count = 0;
  const state = { shape: 'array' as UnosendShape };
  const handler: FakeHandler = (req) => {
    if (req.headers.authorization !== `Bearer ${FAKE_UNOSEND_KEY}`) {
      return { status: 401, body: { error: { code: 'invalid_api_key', message: 'Invalid API key', status: 401 } } };
    }
    if (req.method !== 'POST' || req.path !== '/sms')
      return { status: 404, body: { error: { code: 'route_not_found', message: 'Not found', status: 404 } } };
    const next = queued.shift();
    if (next) return next;
    const { to, body } = req.json ?? {};
    if (typeof to !== 'string' || !/^\+[1-9]\d{6,14}$/.test(to) || typeof body !== 'string' || body.length > 1600) {
      return { status: 400, body: { error: { code: 'validation_error', message: 'to must be E.164 and body ≤ 1600 chars', status: 400 } } };
    }
    count += 1;
    const id = `sms_fake_${count}`;
    if (state.shape === 'object') {
      return { status: 200, body: { data: { id, to, body, status: 'sent', segments: 1, created_at: new Date().toISOString() } } };
    }
    return { status: 200, body: { data: [{ id, to, status: 'sent', message_id: `acs_${count}`, segments: 1 }] } };
  };
  const server = await startFakeServer(handler);
  return Object.assign(server, {
    sends: () => server.requests.filter((r) => r.method === 'POST' && r.path === '/sms'),
    failNext: (...responses: FakeResponse[]) => void queued.push(...responses),
    setShape: (shape: UnosendShape) => void (state.shape = shape),
  });
}
