import { Client } from 'pg';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { startPgQueryCounter, type PgQueryCounter } from './helpers/pg-query-counter';

let database: TestDatabase;
let counter: PgQueryCounter;
let harness: Harness;
const DOMAINS = 20_000;

beforeAll(async () => {
  database = await createTestDatabase();
  const pg = new Client({ connectionString: database.url });
  await pg.connect();
  await pg.query(
    `INSERT INTO messages (id, source, channel, recipient, recipient_domain, provider, provider_message_id, status, attempts,
                           created_at, sent_at, delivered_at, updated_at)
     SELECT 'msg_' || lpad(i::text, 10, '0'), 'clerk', 'email', 'u' || i || '@d' || (i % $1) || '.example', 'd' || (i % $1) || '.example',
            'resend', 'pm_' || i, 'delivered', 1, now() - interval '1 hour', now() - interval '59 minutes', now() - interval '58 minutes', now()
     FROM generate_series(1, $1 * 2) i`,
    [DOMAINS],
  );
  await pg.query('ANALYZE');
  await pg.end();
  counter = await startPgQueryCounter(database.url);
  harness = await startHarness(testConfig(counter.url));
}, 120_000);

afterAll(async () => {
  await harness.close();
  await counter.close();
  await database.drop();
});

it('measures', async () => {
  const times: number[] = [];
  const queries: number[] = [];
  for (let i = 0; i < 10; i++) {
    const before = counter.executed();
    const started = performance.now();
    const res = await harness.request('/metrics');
    await res.text();
    times.push(performance.now() - started);
    queries.push(counter.executed() - before);
  }
  console.log(JSON.stringify({ times: times.map((t) => Math.round(t)), queries }));
}, 120_000);
