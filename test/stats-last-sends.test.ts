import { RECORDED_FRESH_MS } from '../src/deliverability/last-sends';
import { createStats } from '../src/deliverability/stats';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { seedMessages } from './helpers/seed';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  const db = database.db;
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);
  // Older than the newest 1,000 sends of Resend and of gmail.com, but the newest of Autosend.
  await seedMessages(db, { count: 10, provider: 'resend', domain: 'gmail.com', outcome: 'hard_bounce', createdAt: hoursAgo(50) });
  await seedMessages(db, { count: 4, provider: 'autosend', domain: 'example.net', outcome: 'complaint', createdAt: hoursAgo(49) });
  await seedMessages(db, { count: 1_000, provider: 'resend', domain: 'gmail.com', outcome: 'delivered', createdAt: hoursAgo(2) });
  await seedMessages(db, { count: 6, provider: 'autosend', domain: 'example.net', outcome: 'delivered', createdAt: hoursAgo(1) });
  await seedMessages(db, { count: 5, provider: 'unosend', channel: 'sms', outcome: 'delivered', createdAt: hoursAgo(1) });
});

afterAll(async () => {
  await database.drop();
});

it('takes the newest 1,000 email sends of each scope, however far back they reach', async () => {
  const s = await createStats({ db: database.db }).compute('24h');
  // Overall: the 1,000 newest email sends are 6 Autosend and 994 Resend deliveries; SMS never counts.
  expect(s.rates.last_1000_sends).toMatchObject({ sent: 1_000, hard_bounces: 0, complaints: 0 });

  const resend = s.providers.find((p) => p.provider === 'resend')!;
  expect(resend.rates.last_1000_sends).toMatchObject({ sent: 1_000, hard_bounces: 0 });
  const gmail = s.recipient_domains.find((d) => d.domain === 'gmail.com')!;
  expect(gmail.rates.last_1000_sends).toMatchObject({ sent: 1_000, hard_bounces: 0 });

  // Autosend and example.net have few sends: their last 1,000 reach back past the window to the complaints.
  const autosend = s.providers.find((p) => p.provider === 'autosend')!;
  expect(autosend.rates.window).toMatchObject({ sent: 6, complaints: 0 });
  expect(autosend.rates.last_1000_sends).toEqual({ sent: 10, hard_bounces: 0, complaints: 4, bounce_rate: 0, complaint_rate: 0.4 });
  const exampleNet = s.recipient_domains.find((d) => d.domain === 'example.net')!;
  expect(exampleNet.rates.last_1000_sends).toMatchObject({ sent: 10, complaints: 4 });

  const wide = await createStats({ db: database.db }).compute('3d');
  expect(wide.rates.window).toMatchObject({ sent: 1_020, hard_bounces: 10, complaints: 4 });
  expect(wide.providers.find((p) => p.provider === 'resend')!.rates.last_1000_sends).toMatchObject({ sent: 1_000, hard_bounces: 0 });
});

it('skips the last-1,000 rates for readers that show only the window (dashboard, /metrics)', async () => {
  const s = await createStats({ db: database.db }).compute('24h', { lastSends: false });
  expect(s.rates.window).toMatchObject({ sent: 1_006 });
  expect(s.rates.last_1000_sends).toEqual({ sent: 0, hard_bounces: 0, complaints: 0, bounce_rate: null, complaint_rate: null });
});

it('reports the rates the deliverability check recorded while they are fresh, and computes them again once stale', async () => {
  const db = database.db;
  const at = new Date();
  const recorded = await createStats({ db, now: () => at }).compute('24h', { lastSends: 'computeAndRecord' });
  const gmailOf = (s: typeof recorded) => s.recipient_domains.find((d) => d.domain === 'gmail.com')!.rates.last_1000_sends;
  expect(gmailOf(recorded)).toMatchObject({ sent: 1_000, hard_bounces: 0 });
  // A hard bounce after the check: a read within RECORDED_FRESH_MS reports what the check recorded.
  await seedMessages(db, {
    count: 1,
    provider: 'resend',
    domain: 'gmail.com',
    outcome: 'hard_bounce',
    createdAt: new Date(Date.now() - 3600_000),
  });
  const soon = await createStats({ db, now: () => new Date(at.getTime() + 60_000) }).compute('24h');
  expect(soon.rates.last_1000_sends).toEqual(recorded.rates.last_1000_sends);
  expect(gmailOf(soon)).toEqual(gmailOf(recorded));
  // Past it (no worker runs the check), they are computed on the read.
  const stale = await createStats({ db, now: () => new Date(at.getTime() + RECORDED_FRESH_MS + 1_000) }).compute('24h');
  expect(gmailOf(stale)).toMatchObject({ sent: 1_000, hard_bounces: 1 });
});
