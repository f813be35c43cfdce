import { Client } from 'pg';
import { seedLog } from '../scripts/bench-read/seed';
import { createMessageLog } from '../src/delivery/message-log';
import { encodeCursor } from '../src/lib/cursor';
import { filterFacets } from '../src/dashboard/messages-routes';
import { createStats } from '../src/deliverability/stats';
import { hourlyOverview } from '../src/dashboard/overview';
import { costliest, everyStatement } from './helpers/explain';
import { createTestDatabase, type TestDatabase } from './helpers/db';

/**
 * The read side stays flat in the size of the log: each read's costliest statement touches a bounded number of
 * pages whatever the log holds, measured with EXPLAIN (ANALYZE, BUFFERS) on a 40,000-message log (time varies
 * with the machine; pages touched do not).
 */

const MESSAGES = 40_000;
let database: TestDatabase;
let pg: Client;

beforeAll(async () => {
  database = await createTestDatabase();
  pg = new Client({ connectionString: database.url });
  await pg.connect();
  await seedLog(pg, { messages: MESSAGES, days: 60, bodyDays: 7 });
}, 120_000);

afterAll(async () => {
  await pg.end();
  await database.drop();
});

async function positionAt(fraction: number, where = 'TRUE'): Promise<{ created_at: Date; id: string }> {
  const { rows } = await pg.query(
    `SELECT created_at, id FROM messages WHERE ${where} ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
    [Math.floor((await pg.query(`SELECT count(*)::int AS n FROM messages WHERE ${where}`)).rows[0].n * fraction)],
  );
  return rows[0];
}

describe('the message list', () => {
  it('reads a page deep in the log along the index, not by filtering every newer row', async () => {
    const log = createMessageLog(database.db);
    const at = await positionAt(0.5);
    const cursor = encodeCursor(at.created_at, at.id);
    const work = await costliest(database.url, () => log.list({ limit: 50, cursor }));
    expect(work.rowsRemovedByFilter).toBeLessThan(100);
    expect(work.buffers).toBeLessThan(100);
  });

  it('pages a filtered listing deep in the log the same way', async () => {
    const log = createMessageLog(database.db);
    const at = await positionAt(0.9, `provider = 'autosend'`);
    const cursor = encodeCursor(at.created_at, at.id);
    const work = await costliest(database.url, () => log.list({ provider: 'autosend', limit: 50, cursor }));
    expect(work.rowsRemovedByFilter).toBeLessThan(100);
    expect(work.buffers).toBeLessThan(150);
  });

  it('pages the changes (updated_since) from a cursor along the index', async () => {
    const log = createMessageLog(database.db);
    const { rows } = await pg.query(`SELECT updated_at, id FROM messages ORDER BY updated_at, id OFFSET $1 LIMIT 1`, [MESSAGES / 2]);
    const since = new Date(Date.now() - 61 * 86_400_000);
    const cursor = encodeCursor(rows[0].updated_at, rows[0].id, 'u');
    const work = await costliest(database.url, () => log.list({ updatedSince: since, limit: 50, cursor }));
    expect(work.rowsRemovedByFilter).toBeLessThan(100);
    expect(work.buffers).toBeLessThan(100);
  });
});

describe('the deliverability stats', () => {
  it('read no row only to drop it: an SMS-only provider has no email sends to walk, bounces are read for the window only', async () => {
    const stats = createStats({ db: database.db });
    const works = await everyStatement(database.url, () => stats.compute('24h'));
    expect(works.length).toBeGreaterThanOrEqual(3);
    // The log holds 5,700 Twilio sends and 600 bounces; the window a fraction of them.
    const worst = works.sort((a, b) => b.rowsRemovedByFilter - a.rowsRemovedByFilter)[0]!;
    // The plan is in the failure message, to show what was walked.
    expect({ removed: worst.rowsRemovedByFilter < 200, plan: worst.plan }).toEqual({ removed: true, plan: worst.plan });
  });
});

describe('the deliverability stats from the hourly rollup', () => {
  it('read whole hours from the rollup once folded, and neither messages nor events end to end', async () => {
    const stats = createStats({ db: database.db });
    await stats.fold();
    for (const window of ['24h', '7d']) {
      const works = await everyStatement(database.url, () => stats.compute(window, { lastSends: false }));
      for (const work of works) {
        const scanned = /Seq Scan on (messages|message_events)\b/.test(work.plan);
        expect({ scanned, removed: work.rowsRemovedByFilter < 200, plan: work.plan }).toEqual({
          scanned: false,
          removed: true,
          plan: work.plan,
        });
      }
    }
  });
});

describe('the overview from the hourly rollup', () => {
  it('reads the statuses of the day from the rollup once folded, and messages and events by time over the window only', async () => {
    await createStats({ db: database.db }).fold();
    const works = await everyStatement(database.url, () => hourlyOverview(database.db));
    for (const work of works) {
      const scanned = /Seq Scan on (messages|message_events)\b/.test(work.plan);
      // Each statement reads one index range of the window (the costliest, events, 80 pages); counting the
      // statuses over every message of the day read 175, the rollup and the current hour 60.
      expect({ scanned, buffers: work.buffers < 120, plan: work.plan }).toEqual({ scanned: false, buffers: true, plan: work.plan });
    }
    expect(works.some((w) => /on message_stats_hourly\b/.test(w.plan))).toBe(true);
  });
});

describe("the message list's filter choices", () => {
  it('offer the providers and templates of the last 7 days, found by skipping along their indexes', async () => {
    await pg.query(`INSERT INTO messages (id, source, channel, recipient, provider, template, status, created_at)
                    VALUES ('msg_old_facet', 'api', 'email', 'old@example.com', 'postmark', 'retired_template', 'sent', now() - interval '20 days')`);
    const since = new Date(Date.now() - 7 * 86_400_000);
    const distinct = async (column: string) =>
      (
        await pg.query(`SELECT DISTINCT ${column} AS v FROM messages WHERE created_at >= $1 AND ${column} IS NOT NULL ORDER BY 1`, [since])
      ).rows.map((r) => r.v);
    const facets = await filterFacets(database.db, new Date());
    expect(facets).toEqual({ providers: await distinct('provider'), templates: await distinct('template') });
    expect(facets.providers).not.toContain('postmark');
    expect(facets.templates).not.toContain('retired_template');
    // A DISTINCT over the week reads its 4,700 messages; the skips touch a few pages per value.
    const works = await everyStatement(database.url, () => filterFacets(database.db, new Date()));
    for (const work of works) expect(work.buffers).toBeLessThan(100);
  });
});
