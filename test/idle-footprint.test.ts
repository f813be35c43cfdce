import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './helpers/db';

/**
 * What an idle `ROLE=api` process holds (issue 13 item 4): a child Node process builds the container and the
 * app from `dist/`, as `dist/src/main.js` does, lets Prisma compile its query compiler, and lists which of the
 * modules an idle process never needs Node still holds. Each is megabytes of heap, in every isolate.
 */
const dist = path.resolve(__dirname, '..', 'dist', 'src');
const MODULES = {
  // bull-board (with lodash, valibot, ejs) is built on the first request to /dashboard/queues.
  'bull-board': '/node_modules/@bull-board/',
  // Clerk's SDK is loaded on the first write-back, even with CLERK_SECRET_KEY set.
  'clerk sdk': '/node_modules/@clerk/backend/dist/index.js',
  // The query compiler's 4.6 MB of base64 text, once compiled.
  'query compiler source': '.wasm-base64.js',
};

function modulesHeld(env: Record<string, string>): string[] {
  const script = `
    const { parseConfig } = require(${JSON.stringify(path.join(dist, 'config', 'env.js'))});
    const { buildContainer } = require(${JSON.stringify(path.join(dist, 'container.js'))});
    const { createApp } = require(${JSON.stringify(path.join(dist, 'app.js'))});
    const { createLogger } = require(${JSON.stringify(path.join(dist, 'lib', 'logger.js'))});
    const container = buildContainer(parseConfig(process.env), createLogger('silent'));
    createApp(container);
    container.db.$connect().then(() => setTimeout(async () => {
      const loaded = Object.keys(require.cache);
      const held = Object.entries(${JSON.stringify(MODULES)}).filter(([, file]) => loaded.some((f) => f.includes(file)));
      await container.close();
      process.stdout.write(JSON.stringify(held.map(([name]) => name)));
      process.exit(0);
    }, 50));
  `;
  const base = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/unused',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `test-idle-footprint-${process.pid}`,
    ADMIN_TOKEN: 'a'.repeat(32),
  };
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8' })) as string[];
}

test('an idle receiver holds neither bull-board, nor the Clerk SDK, nor the query compiler source', () => {
  expect(modulesHeld({ CLERK_SECRET_KEY: 'sk_test_' + '0'.repeat(32) })).toEqual([]);
});

/**
 * What Prisma's query compiler costs an isolate once it has planned a query: a child process's anonymous
 * memory before `createPrisma` and after its first `findMany`. The compiler's fast build took 53 MB here and
 * its small build, which plans no slower for our query shapes, 19 MB; the receiver and the worker thread each
 * pay it.
 */
function queryCompilerMegabytes(databaseUrl: string): number {
  const script = `
    const { readFileSync } = require('node:fs');
    const { createPrisma } = require(${JSON.stringify(path.join(dist, 'db', 'prisma.js'))});
    const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    global.gc();
    const before = anon();
    const db = createPrisma(process.env.DATABASE_URL, 1);
    db.message.findMany({ take: 1 }).then(async () => {
      global.gc();
      process.stdout.write(String(anon() - before));
      await db.$disconnect();
    });
  `;
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl };
  return Number(execFileSync(process.execPath, ['--expose-gc', '-e', script], { env, encoding: 'utf8' }));
}

describe('the query compiler', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  test('costs an isolate under 35 MB once it has planned a query', () => {
    expect(queryCompilerMegabytes(database.url)).toBeLessThan(35);
  });
});
