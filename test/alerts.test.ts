import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { seedMessages } from './helpers/seed';
import { startFakeServer, type FakeServer } from './fakes/fake-http-server';

let database: TestDatabase;
let harness: Harness;
let slack: FakeServer;

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeServer(() => ({ status: 200, body: 'ok' }));
  harness = await startHarness(
    testConfig(database.url, { ALERT_WEBHOOK_URL: `${slack.url}/services/T000/B000/XXX`, ALERT_MIN_SENDS: '50' }),
  );
});

afterAll(async () => {
  await harness.close();
  await slack.close();
  await database.drop();
});

const posts = (): string[] => slack.requests.map((r) => r.json.text as string);
const evaluate = () => harness.container.alerts.evaluate();

it('posts a crossing once, an escalation once and the recovery once, per scope, one post per evaluation', async () => {
  const db = database.db;
  await seedMessages(db, { count: 97, outcome: 'delivered' });
  await seedMessages(db, { count: 1, outcome: 'hard_bounce' });
  expect(await evaluate()).toEqual([]);
  expect(posts()).toHaveLength(0);

  // 3 of 100 sends bounced hard: over the 2 % warning level, overall, on Resend and to example.com: one post.
  await seedMessages(db, { count: 2, outcome: 'hard_bounce' });
  const warned = await evaluate();
  expect(warned.map((c) => [c.key, c.from, c.to])).toEqual([
    ['bounce:all', 'ok', 'warn'],
    ['bounce:provider:resend', 'ok', 'warn'],
    ['bounce:domain:example.com', 'ok', 'warn'],
  ]);
  expect(posts()).toHaveLength(1);
  const [overall, onResend, toDomain] = posts()[0]!.split('\n');
  expect(overall).toMatch(/WARN: bounce rate overall crossed 2%.*3% of 100 sends/);
  expect(onResend).toMatch(/WARN: bounce rate on resend crossed 2%/);
  expect(toDomain).toMatch(/WARN: bounce rate to example.com crossed 2%/);
  expect(slack.requests[0]!.headers['content-type']).toBe('application/json');

  // Evaluated again and again with nothing new: silence.
  await evaluate();
  await evaluate();
  expect(posts()).toHaveLength(1);

  // 6 of 103: page.
  await seedMessages(db, { count: 3, outcome: 'hard_bounce' });
  expect((await evaluate()).map((c) => c.to)).toEqual(['page', 'page', 'page']);
  expect(posts()[1]).toMatch(/PAGE: bounce rate overall crossed 4%/);
  await evaluate();
  expect(posts()).toHaveLength(2);

  // Plenty of good sends: 6 of 403 is 1.5 %, clearly under 2 %.
  await seedMessages(db, { count: 300, outcome: 'delivered' });
  expect((await evaluate()).map((c) => [c.key, c.from, c.to])).toEqual([
    ['bounce:all', 'page', 'ok'],
    ['bounce:provider:resend', 'page', 'ok'],
    ['bounce:domain:example.com', 'page', 'ok'],
  ]);
  expect(posts()[2]).toMatch(/bounce rate overall recovered/);
  await evaluate();
  expect(posts()).toHaveLength(3);
  expect(await database.db.alertState.findUniqueOrThrow({ where: { key: 'bounce:all' } })).toMatchObject({ level: 'ok' });
});

it('does not flap around a threshold, and retries a post the webhook refused', async () => {
  const db = database.db;
  // Complaints: 1 of 404 (0.25 %) is over the 0.08 % page level.
  slack.setHandler(() => ({ status: 500, body: 'down' }));
  await seedMessages(db, { count: 1, outcome: 'complaint' });
  const refused = await evaluate();
  expect(refused.map((c) => [c.key, c.to, c.posted])).toEqual([
    ['complaint:all', 'page', false],
    ['complaint:provider:resend', 'page', false],
    ['complaint:domain:example.com', 'page', false],
  ]);
  slack.setHandler(() => ({ status: 200, body: 'ok' }));
  const before = slack.requests.length;
  expect((await evaluate()).map((c) => c.posted)).toEqual([true, true, true]);
  expect(slack.requests.length - before).toBe(1);
  await evaluate();
  expect(slack.requests.length - before).toBe(1);

  // 1 of 1,306 (0.077 %) is under the 0.08 % page level but within its 10 % margin: still paging, no post.
  await seedMessages(db, { count: 901, outcome: 'delivered' });
  expect(await evaluate()).toEqual([]);
  // 1 of 1,506 (0.066 %) is clearly under: back to warn, said once.
  await seedMessages(db, { count: 200, outcome: 'delivered' });
  expect((await evaluate()).map((c) => [c.key, c.from, c.to])).toEqual([
    ['complaint:all', 'page', 'warn'],
    ['complaint:provider:resend', 'page', 'warn'],
    ['complaint:domain:example.com', 'page', 'warn'],
  ]);
  expect(posts().at(-1)).toMatch(/WARN: complaint rate on resend fell back under the page level but is still above 0.05%/);
});

it('stays quiet below the minimum volume', async () => {
  const fresh = await createTestDatabase();
  const quiet = await startHarness(testConfig(fresh.url, { ALERT_WEBHOOK_URL: slack.url, ALERT_MIN_SENDS: '50' }));
  try {
    await seedMessages(fresh.db, { count: 10, outcome: 'hard_bounce' });
    const before = slack.requests.length;
    expect(await quiet.container.alerts.evaluate()).toEqual([]);
    expect(slack.requests.length).toBe(before);
  } finally {
    await quiet.close();
    await fresh.drop();
  }
});

it('closes, once, an open alert whose scope has no sends left in the window', async () => {
  const fresh = await createTestDatabase();
  const hook = await startFakeServer(() => ({ status: 200, body: 'ok' }));
  const isolated = await startHarness(testConfig(fresh.url, { ALERT_WEBHOOK_URL: hook.url, ALERT_MIN_SENDS: '50' }));
  try {
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);
    // Autosend bounced a lot two days ago, then was taken out of the chain: nothing on it in the last 24 h.
    await seedMessages(fresh.db, { count: 90, provider: 'autosend', outcome: 'delivered', createdAt: daysAgo(2) });
    await seedMessages(fresh.db, { count: 10, provider: 'autosend', outcome: 'hard_bounce', createdAt: daysAgo(2) });
    expect((await isolated.container.alerts.evaluate('3d')).map((c) => [c.key, c.to])).toContainEqual(['bounce:provider:autosend', 'page']);
    await seedMessages(fresh.db, { count: 200, provider: 'resend', domain: 'example.org', outcome: 'delivered' });

    const closed = await isolated.container.alerts.evaluate('24h');
    expect(closed.map((c) => [c.key, c.from, c.to])).toContainEqual(['bounce:provider:autosend', 'page', 'ok']);
    expect(hook.requests.at(-1)!.json.text).toMatch(/bounce rate on autosend: no sends in the last 24h; alert closed/);
    const posted = hook.requests.length;
    expect(await isolated.container.alerts.evaluate('24h')).toEqual([]);
    expect(hook.requests.length).toBe(posted);
  } finally {
    await isolated.close();
    await hook.close();
    await fresh.drop();
  }
});
