import { runRelay } from '../scripts/relay';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { seedMessage, seedMessages } from './helpers/seed';
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

const postClerk = (event: unknown): Promise<string> => acceptClerkEvent(harness.request, event);

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

it("does not pass other people's escape sequences to the terminal", async () => {
  const id = await seedMessage(database.db, { status: 'failed', lastError: 'resend: \x1b]0;pwned\x07\x1b[2J boom' });
  const { stdout } = await relay(['show', id], { tty: true });
  expect(stdout).toMatch(/resend: \?\]0;pwned\?\?\[2J boom/);
  expect(stdout).not.toContain('\x1b]');
  expect(stdout).not.toContain('\x1b[2J');
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
  const failed = await seedMessage(database.db, {
    status: 'failed',
    template: 'welcome',
    payload: { channel: 'email', subject: 'Hi', text: 'Welcome' },
  });
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
  // Without RELAY_URL, the server's own PORT (as in its container).
  const port = new URL(harness.baseUrl).port;
  const byPort = await runRelay(['show', 'msg_x'], {
    env: { PORT: port, ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    stdout: { write: () => undefined },
    stderr: { write: (s: string) => void expect(s).toMatch(/404 not_found: No message msg_x/) },
  });
  expect(byPort).toBe(1);
  expect((await relay(['frobnicate'])).code).toBe(1);
  expect((await relay([])).code).toBe(2);
});

it('follows status changes of older messages, every one of them however many change at once', async () => {
  const hourAgo = new Date(Date.now() - 3_600_000);
  const ids: string[] = [];
  for (let i = 0; i < 230; i++)
    ids.push(
      await seedMessage(database.db, {
        recipient: `bulk${i}@tail-bulk.example`,
        template: 'tail_bulk',
        status: 'sent',
        createdAt: hourAgo,
        updatedAt: hourAgo,
      }),
    );
  const controller = new AbortController();
  let stdout = '';
  const running = runRelay(['tail', '--template', 'tail_bulk', '--lines', '1', '--interval', '0.2'], {
    env: { RELAY_URL: harness.baseUrl, ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => undefined },
    signal: controller.signal,
  });
  await waitFor(() => stdout.split('\n').length >= 3);
  // Changes from before the tail started are not replayed.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(stdout.trim().split('\n')).toHaveLength(2);

  await database.db.message.updateMany({ where: { id: { in: ids } }, data: { status: 'bounced', lastError: 'hard bounce' } });
  const bouncedLines = () => stdout.split('\n').filter((l) => /^\S+ \S+\s+bounced\s/.test(l));
  await waitFor(() => bouncedLines().length === ids.length, { timeoutMs: 15_000 });
  // Read again through the overlap, none is printed twice.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  controller.abort();
  expect(await running).toBe(0);
  expect(bouncedLines()).toHaveLength(ids.length);
  expect(new Set(bouncedLines().map((l) => l.split(/\s+/).at(-3))).size).toBe(ids.length);
});

describe('stats, against the real /api/stats', () => {
  beforeAll(async () => {
    await seedMessages(database.db, {
      count: 18,
      provider: 'resend',
      domain: 'stats-cli.example',
      outcome: 'delivered',
      sendMs: 800,
      deliverMs: 2_000,
    });
    await seedMessages(database.db, { count: 2, provider: 'resend', domain: 'stats-cli.example', outcome: 'hard_bounce' });
    for (const status of ['failed', 'expired', 'expired'] as const) {
      await seedMessage(database.db, {
        status,
        provider: 'resend',
        recipient: `someone@stats-cli-lost.example`,
        createdAt: new Date(Date.now() - 60_000),
      });
    }
  });

  it('prints totals, rates, latency and a row per provider and recipient domain', async () => {
    const { code, stdout, stderr } = await relay(['stats', '--window', '24h']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^window 24h {2}\(\d{4}-\d\d-\d\d /m);
    expect(stdout).toMatch(/^messages {2}\d+ {2}\(.*delivered \d+.*bounced \d+/m);
    expect(stdout).toMatch(/^email sent \d+: bounce rate \d+\.\d\d% \(\d+ hard\), complaint rate \d+\.\d{3}% \(\d+\)$/m);
    expect(stdout).toMatch(/^latency {3}accepted→sent p50 \S+ p95 \S+; sent→delivered p50 \S+ p95 \S+$/m);
    expect(stdout).toMatch(
      /^PROVIDER\s+TOTAL\s+DELIVERED\s+FAILED\s+EXPIRED\s+EMAIL SENT\s+BOUNCE\s+COMPLAINT\s+TO SENT P95\s+TO DELIVERED P95$/m,
    );
    expect(stdout).toMatch(/^DOMAIN\s+TOTAL/m);
    // 2 hard bounces of 20 sends to this domain.
    // Failed and expired in their own columns: 1 failed, 2 expired (not "3 failed").
    expect(stdout).toMatch(/^stats-cli-lost\.example\s+3\s+0\s+1\s+2\s/m);
    expect(stdout).toMatch(/^stats-cli\.example\s+20\s+18\s+0\s+0\s+20\s+10\.00%\s+0\.000%\s+1\.0s\s+2\.0s$/m);

    const parsed = JSON.parse((await relay(['stats', '--json'])).stdout);
    const api = await json(await harness.request('/api/stats?window=24h', { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } }));
    expect(Object.keys(parsed).sort()).toEqual(Object.keys(api).sort());
    expect(parsed.recipient_domains.find((d: { domain: string }) => d.domain === 'stats-cli.example').rates.window.hard_bounces).toBe(2);
  });

  it("passes the API's answer on for a bad window", async () => {
    const { code, stderr } = await relay(['stats', '--window', 'forever']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/422 invalid_request: window: must look like 15m, 24h or 7d/);
  });
});

describe('suppressions, against the real /api/suppressions', () => {
  it('adds, lists, searches and releases', async () => {
    const added = await relay(['suppressions', 'add', 'Gone@CLI.example', '--reason', 'support ticket 12']);
    expect(added).toMatchObject({ code: 0, stdout: 'suppressed gone@cli.example (email) until released\n' });
    expect((await relay(['suppressions', 'add', '+447700900123'])).stdout).toBe('suppressed +447700900123 (sms) until released\n');
    await relay(['suppressions', 'add', 'other@elsewhere.example']);

    const list = await relay(['suppressions', 'list', '--search', 'cli.example']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^RECIPIENT\s+CHANNEL\s+REASON\s+SINCE\s+UNTIL\s+NOTE$/m);
    expect(list.stdout).toMatch(/^gone@cli\.example\s+email\s+manual\s+\d{4}-\d\d-\d\d \S+\s+released by hand\s+support ticket 12$/m);
    expect(list.stdout).not.toContain('other@elsewhere.example');
    const sms = JSON.parse((await relay(['suppressions', 'list', '--channel', 'sms', '--json'])).stdout);
    expect(sms.data.map((s: { recipient: string }) => s.recipient)).toEqual(['+447700900123']);

    const paged = await relay(['suppressions', 'list', '--lines', '1']);
    const more = paged.stdout.match(/^more: relay suppressions list --cursor (\S+)$/m);
    expect(more).not.toBeNull();
    expect((await relay(['suppressions', 'list', '--lines', '1', '--cursor', more![1]!])).code).toBe(0);

    expect((await relay(['suppressions', 'release', 'gone@cli.example'])).stdout).toBe('released gone@cli.example (email; was manual)\n');
    // A released entry no longer suppresses; it stays, ended, as the record of the release.
    expect(await harness.container.suppressions.active('email', 'gone@cli.example')).toBeNull();
    expect((await relay(['suppressions', 'release', '+447700900123'])).code).toBe(0);
    expect(await harness.container.suppressions.active('sms', '+447700900123')).toBeNull();
  });

  it('says why a suppression cannot be added or released', async () => {
    const unknown = await relay(['suppressions', 'release', 'never@cli.example']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404 not_found: never@cli\.example is not suppressed on email/);
    const bad = await relay(['suppressions', 'add', 'not-a-phone', '--channel', 'sms']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/422 .*E\.164/);
  });
});
