import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { seedMessage } from './helpers/seed';
import { waitFor } from './helpers/wait';

/** Screenshots of every page, kept by CI as artifacts. */
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let database: TestDatabase;
let harness: Harness;
let context: BrowserContext;
let page: Page;
let profile: string;
const cspViolations: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url), { workers: true });
  profile = mkdtempSync(join(tmpdir(), 'auth-relay-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    // A zone that is not UTC, so the page has to say which one it shows.
    timezoneId: 'America/New_York',
    locale: 'en-US',
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('dialog', (dialog) => void dialog.accept());
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await harness?.close();
  await database?.drop();
});

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

/** How far the page is wider than the screen (0 when nothing scrolls sideways). A string runs in the page. */
const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');

/** Every "What happened" cell of the timeline, as [left, right] in CSS pixels. */
const whatCells = () =>
  page.evaluate<[number, number][]>(
    "[...document.querySelectorAll('table.timeline tbody td:last-child')].map((td) => { const r = td.getBoundingClientRect(); return [r.left, r.right]; })",
  );

it('walks the on-call path: log in, find a user, read the timeline, release a suppression', async () => {
  const event = emailCreated({ to: 'browser-user@example.com' });
  const message_id = await acceptClerkEvent(harness.request, event);
  await waitFor(async () => (await database.db.message.findUniqueOrThrow({ where: { id: message_id } })).status === 'sent');
  for (let i = 0; i < 12; i++) {
    await seedMessage(database.db, {
      recipient: `someone${i}@${i % 3 ? 'gmail.com' : 'outlook.com'}`,
      status: (['delivered', 'sent', 'bounced', 'failed'] as const)[i % 4],
      createdAt: new Date(Date.now() - i * 20 * 60_000),
      sentAt: new Date(Date.now() - i * 20 * 60_000 + 900),
      events: [{ type: 'received' }, { type: 'sent', at: new Date(Date.now() - i * 20 * 60_000 + 900) }],
    });
  }
  await harness.container.suppressions.suppress({ channel: 'email', recipient: 'blocked@example.com', reason: 'hard_bounce' });

  await page.goto(`${harness.baseUrl}/dashboard`);
  expect(page.url()).toContain('/dashboard/login');
  await shot('login');
  await page.fill('input[name=token]', TEST_ADMIN_TOKEN);
  await page.click('button[type=submit]');
  await page.waitForURL(`${harness.baseUrl}/dashboard`);
  await shot('messages');

  await page.fill('input[name=q]', 'browser-user@example.com');
  await page.press('input[name=q]', 'Enter');
  await page.waitForURL(/q=browser-user%40example\.com/);
  const rows = page.locator('tbody tr');
  expect(await rows.count()).toBe(1);
  expect(await rows.first().textContent()).toContain('sent');

  await page.click('a:has-text("browser-user@example.com")');
  await page.waitForURL(`${harness.baseUrl}/dashboard/messages/${message_id}`);
  const timeline = page.locator('h2:has-text("Timeline") + .table-wrap tbody tr');
  expect(await timeline.locator('.badge').allTextContents()).toEqual(['received', 'queued', 'sent']);
  // Sent through the development outbox, so the page shows the full message as it was sent.
  expect(await page.textContent('main')).toContain('Stored in full by the development outbox provider');
  // The client script shows the browser's local time with its zone, and the UTC time on hover.
  expect(await page.textContent('time[data-local]')).toMatch(/\d{1,2}:\d\d:\d\d (AM|PM) EST$/);
  expect(await page.getAttribute('time[data-local]', 'title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$/);
  await shot('message');

  await page.click('a:has-text("Overview")');
  await page.waitForURL(/\/dashboard\/overview$/);
  expect(await page.locator('svg.chart').count()).toBe(3);
  await shot('overview');

  await page.emulateMedia({ colorScheme: 'dark' });
  await shot('overview-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  await page.click('a:has-text("Suppressions")');
  await page.waitForURL(/\/dashboard\/suppressions$/);
  await shot('suppressions');
  await page.click('button[aria-label="Release blocked@example.com"]');
  await page.waitForURL(/notice=released/);
  expect(await page.textContent('.notice')).toContain('Recipient released.');
  expect(await harness.container.suppressions.active('email', 'blocked@example.com')).toBeNull();

  await page.click('a:has-text("Queues")');
  await page.waitForURL(/\/dashboard\/queues/);
  await page.waitForSelector('text=send', { timeout: 15_000 });
  await shot('queues');
  // bull-board links back, and loads nothing the CSP refuses (its Google Fonts link is gone).
  await page.click('#back-to-dashboard');
  await page.waitForURL(`${harness.baseUrl}/dashboard`);

  // Phone width, light and dark: nothing scrolls sideways, and the timeline stacks on the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const suffix = scheme === 'dark' ? 'phone-dark' : 'phone';
    for (const [name, path] of [
      ['messages', '/dashboard'],
      ['message', `/dashboard/messages/${message_id}`],
      ['overview', '/dashboard/overview'],
      ['suppressions', '/dashboard/suppressions'],
    ] as const) {
      await page.goto(`${harness.baseUrl}${path}`);
      expect({ name, overflow: await overflow() }).toEqual({ name, overflow: 0 });
      if (name === 'message') {
        const cells = await whatCells();
        expect(cells.length).toBe(3);
        for (const [left, right] of cells) {
          expect(left).toBeGreaterThanOrEqual(0);
          expect(right).toBeLessThanOrEqual(390);
        }
      }
      await shot(`${name}-${suffix}`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  for (const [name, path] of [
    ['messages', '/dashboard'],
    ['message', `/dashboard/messages/${message_id}`],
  ] as const) {
    await page.goto(`${harness.baseUrl}${path}`);
    await shot(`${name}-dark`);
  }
  await page.emulateMedia({ colorScheme: 'light' });

  expect(cspViolations).toEqual([]);
}, 90_000);
