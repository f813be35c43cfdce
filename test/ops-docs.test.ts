import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runRelay } from '../scripts/relay';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { logIn } from './helpers/dashboard';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { seedMessage } from './helpers/seed';

/** What on-call reads to act (the runbook, the Grafana dashboard) names only what exists, so it cannot rot. */
const root = path.resolve(__dirname, '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');
const RUNBOOK = read('docs/runbook.md');
const GRAFANA = JSON.parse(read('deploy/grafana/auth-relay.json')) as unknown;

let database: TestDatabase;
let harness: Harness;
let exported: Set<string>;

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url));
  exported = sampleNames(await (await harness.request('/metrics')).text());
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

/** Every sample name a family declared in /metrics can produce (a histogram's _bucket, _sum and _count). */
function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or labels. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)]
    .filter((m) => m[2] === undefined && !PROMQL_WORDS.has(m[1]!))
    .map((m) => m[1]!);
}

function exprs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(exprs);
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => (k === 'expr' && typeof v === 'string' ? [v] : exprs(v)));
  }
  return [];
}

it('the Grafana dashboard queries only metrics that /metrics exports', () => {
  const queried = new Set(exprs(GRAFANA).flatMap(metricsIn));
  expect(queried.size).toBeGreaterThan(15);
  expect(queried).toContain('auth_relay_bounce_ratio');
  expect(queried).toContain('http_request_duration_seconds_bucket');
  expect(queried).toContain('process_resident_memory_bytes');
  expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
});

it('the runbook names only metrics that /metrics exports', () => {
  const named = new Set([...RUNBOOK.matchAll(/\b(?:auth_relay|http|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0]));
  expect(named.size).toBeGreaterThan(8);
  expect([...named].filter((name) => !exported.has(name))).toEqual([]);
  expect(read('README.md').split('\n').slice(0, 30).join('\n')).toContain('(docs/runbook.md)');
});

it('every npm script the runbook names exists', () => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  const named = [...RUNBOOK.matchAll(/`npm run ([\w:-]+)/g)].map((m) => m[1]!);
  expect(named).toContain('relay');
  expect(named.filter((s) => !(s in scripts))).toEqual([]);
});

it('every relay command the runbook gives runs as written, against a real relay', async () => {
  const recipient = 'runbook-user@example.com';
  const failed = await seedMessage(database.db, {
    status: 'failed',
    recipient,
    template: 'magic_link',
    payload: { channel: 'email', to: recipient, subject: 'Sign in', text: 'Sign in' },
  });
  const suppress = await harness.request('/api/suppressions', {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ recipient, reason: 'runbook test' }),
  });
  expect(suppress.status).toBeLessThan(300);
  const fill = (s: string) =>
    s.replaceAll('<recipient>', recipient).replaceAll('<message id>', failed).replaceAll('<domain>', 'example.com');

  const commands = [...RUNBOOK.matchAll(/`npm run relay -- ([^`]+)`/g)].map((m) => fill(m[1]!));
  expect(commands.length).toBeGreaterThan(6);
  for (const command of commands) {
    let stderr = '';
    // `tail` follows until stopped: stop it once it has printed its first page.
    const signal = command.startsWith('tail') ? AbortSignal.timeout(500) : undefined;
    const code = await runRelay(command.split(/\s+/), {
      env: { RELAY_URL: harness.baseUrl, ADMIN_TOKEN: TEST_ADMIN_TOKEN },
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
      signal,
    });
    expect({ command, code, stderr }).toEqual({ command, code: 0, stderr: '' });
  }
});

it('every dashboard page the runbook names answers', async () => {
  const id = await seedMessage(database.db, { status: 'delivered' });
  const pages = [...new Set([...RUNBOOK.matchAll(/`(\/dashboard[^`]*)`/g)].map((m) => m[1]!.replaceAll('<message id>', id)))];
  expect(pages.length).toBeGreaterThanOrEqual(4);
  const session = await logIn(harness);
  for (const page of pages) expect({ page, status: (await session.get(page)).status }).toEqual({ page, status: 200 });
});
