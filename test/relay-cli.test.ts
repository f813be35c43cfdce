import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runRelay } from '../scripts/relay';
import { emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { seedMessage } from './helpers/seed';
import { svixHeaders } from './helpers/svix';
import { waitFor } from './helpers/wait';

let database: TestDatabase;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url), { workers: true });
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

async function relay(args: string[], opts: { url?: string; token?: string | null; tty?: boolean; signal?: AbortSignal } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runRelay(args, {
    env: { RELAY_URL: opts.url ?? harness.baseUrl, ADMIN_TOKEN: opts.token === null ? undefined : (opts.token ?? TEST_ADMIN_TOKEN) },
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s) },
    signal: opts.signal,
  });
  return { code, stdout, stderr };
}

async function postClerk(event: unknown): Promise<string> {
  const body = JSON.stringify(event);
  const res = await harness.request('/webhooks/clerk', { method: 'POST', headers: svixHeaders(TEST_CLERK_SECRET, body), body });
  return ((await res.json()) as { message_id: string }).message_id;
}

it('shows a message with its timeline, as text and as JSON', async () => {
  const id = await postClerk(emailCreated({ to: 'cli-show@example.com' }));
  await waitFor(async () => (await database.db.message.findUniqueOrThrow({ where: { id } })).status === 'sent');

  const text = await relay(['show', id]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^recipient\s+cli-show@example\.com$/m);
  expect(text.stdout).toMatch(/^status\s+sent$/m);
  expect(text.stdout).toMatch(/^WHEN\s+EVENT\s+PROVIDER\s+DETAIL$/m);
  expect(text.stdout).toMatch(/\sreceived\s/);
  expect(text.stdout).not.toContain('\x1b[');

  const parsed = JSON.parse((await relay(['show', id, '--json'])).stdout);
  expect(parsed).toMatchObject({ id, status: 'sent', recipient: 'cli-show@example.com' });
  expect(parsed.events.map((e: { type: string }) => e.type)).toEqual(['received', 'queued', 'sent']);
});

it('colours statuses only on a terminal', async () => {
  const id = await seedMessage(database.db, { status: 'failed' });
  expect((await relay(['show', id], { tty: true })).stdout).toContain('\x1b[31mfailed\x1b[0m');
});

it('follows the log live with filters', async () => {
  await seedMessage(database.db, { recipient: 'tail-old@tail.example', template: 'tail_test', createdAt: new Date(Date.now() - 1000) });
  await seedMessage(database.db, { recipient: 'other@tail.example', template: 'not_this_one' });
  const controller = new AbortController();
  let stdout = '';
  const running = runRelay(['tail', '--template', 'tail_test', '--interval', '0.2'], {
    env: { RELAY_URL: harness.baseUrl, ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => undefined },
    signal: controller.signal,
  });
  await waitFor(() => stdout.includes('tail-old@tail.example'));
  const newId = await seedMessage(database.db, { recipient: 'tail-new@tail.example', template: 'tail_test', status: 'queued' });
  await waitFor(() => stdout.includes('tail-new@tail.example'));
  await database.db.message.update({ where: { id: newId }, data: { status: 'failed', lastError: 'resend: 422 invalid_to' } });
  await waitFor(() => /failed\s.*tail-new@tail\.example.*resend: 422 invalid_to/.test(stdout), { timeoutMs: 10_000 });
  controller.abort();
  expect(await running).toBe(0);
  expect(stdout).not.toContain('other@tail.example');
  expect(stdout.split('\n')[0]).toMatch(/^CREATED\s+STATUS\s+CHANNEL\s+RECIPIENT/);
});

it('retries a message and reports why it cannot', async () => {
  const failed = await seedMessage(database.db, { status: 'failed', template: 'welcome', payload: { channel: 'email', subject: 'Hi', text: 'Welcome' } });
  const ok = await relay(['retry', failed]);
  expect(ok).toMatchObject({ code: 0, stdout: `${failed} queued: queued again\n` });
  await waitFor(async () => (await database.db.message.findUniqueOrThrow({ where: { id: failed } })).status === 'sent');

  const refused = await relay(['retry', failed]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/409 not_retryable: only failed or expired messages can be retried/);
});

it('says what is wrong without a token, with a wrong one, or with no server', async () => {
  expect((await relay(['show', 'msg_x'], { token: null })).stderr).toMatch(/Set ADMIN_TOKEN/);
  expect((await relay(['show', 'msg_x'], { token: 'wrong-token-wrong-token' })).stderr).toMatch(/401 unauthorized/);
  const unreachable = await relay(['show', 'msg_x'], { url: 'http://127.0.0.1:1' });
  expect(unreachable.code).toBe(1);
  expect(unreachable.stderr).toMatch(/Cannot reach auth-relay at http:\/\/127\.0\.0\.1:1/);
  expect((await relay(['frobnicate'])).code).toBe(1);
  expect((await relay([])).code).toBe(2);
});

describe('against the stats and suppressions API', () => {
  // /api/stats and /api/suppressions belong to the deliverability service; a fake answers in their shapes.
  let fake: Server;
  let url: string;
  const seen: { method: string; url: string; body: string; auth: string | undefined }[] = [];
  const body = async (req: IncomingMessage) => {
    let data = '';
    for await (const chunk of req) data += chunk;
    return data;
  };

  beforeAll(async () => {
    fake = createServer(async (req, res) => {
      seen.push({ method: req.method!, url: req.url!, body: await body(req), auth: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      if (req.url!.startsWith('/api/stats')) {
        res.end(JSON.stringify({
          window: '24h',
          counts: { sent: 120, delivered: 110, bounced: 3 },
          bounce_rate: 0.025,
          complaint_rate: 0.0004,
          providers: [{ provider: 'resend', sent: 100, bounce_rate: 0.02 }, { provider: 'autosend', sent: 20, bounce_rate: 0.05 }],
          domains: [],
        }));
      } else if (req.method === 'GET') {
        res.end(JSON.stringify({ data: [{ id: 'sup_1', channel: 'email', recipient: 'gone@example.com', reason: 'hard_bounce', created_at: '2026-11-20T10:00:00.000Z', expires_at: null }] }));
      } else {
        res.statusCode = req.method === 'POST' ? 201 : 200;
        res.end(JSON.stringify({ ok: true }));
      }
    }).listen(0);
    await once(fake, 'listening');
    url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())));

  it('prints stats as facts and tables', async () => {
    const { code, stdout } = await relay(['stats'], { url });
    expect(code).toBe(0);
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/stats?window=24h', auth: `Bearer ${TEST_ADMIN_TOKEN}` });
    expect(stdout).toMatch(/^bounce_rate\s+2\.50%$/m);
    expect(stdout).toMatch(/^complaint_rate\s+0\.040%$/m);
    expect(stdout).toMatch(/^counts\.delivered\s+110$/m);
    expect(stdout).toMatch(/^PROVIDER\s+SENT\s+BOUNCE_RATE$/m);
    expect(stdout).toMatch(/^autosend\s+20\s+5\.00%$/m);
    expect(JSON.parse((await relay(['stats', '--json'], { url })).stdout).bounce_rate).toBe(0.025);
  });

  it('lists, adds and releases suppressions', async () => {
    const list = await relay(['suppressions', 'list', '--search', 'gone'], { url });
    expect(seen.at(-1)!.url).toBe('/api/suppressions?q=gone');
    expect(list.stdout).toMatch(/^gone@example\.com\s+email\s+hard_bounce\s+2026-11-20 10:00:00Z\s+released by hand$/m);

    expect((await relay(['suppressions', 'add', 'x@example.com', '--reason', 'support ticket 12'], { url })).code).toBe(0);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/api/suppressions' });
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ channel: 'email', recipient: 'x@example.com', reason: 'support ticket 12' });

    expect((await relay(['suppressions', 'release', '+447700900123'], { url })).stdout).toBe('released +447700900123 (sms)\n');
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/api/suppressions?channel=sms&recipient=%2B447700900123' });
  });
});
