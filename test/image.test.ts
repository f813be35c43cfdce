import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_REDIS_URL } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { randomPort } from './helpers/redis-server';
import { waitFor } from './helpers/wait';

/*
 * The Dockerfile's runtime stage without a docker engine: its npm install line runs in a clean folder, its
 * COPY lines are followed from the build (this checkout's dist/), and its CMD starts from the result.
 */
const root = path.resolve(__dirname, '..');
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const cmd = JSON.parse(runtimeStage.match(/^CMD (\[.*\])$/m)![1]!) as string[];
// js-yaml comes with jest; only this test reads YAML.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- js-yaml has no types of its own here
const yaml = require('js-yaml') as { load(text: string): unknown };

let app: string;
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  app = mkdtempSync(path.join(tmpdir(), 'auth-relay-image-'));
  for (const [, from, sources, dest] of runtimeStage.matchAll(/^COPY (--from=build )?(.+) (\S+)$/gm)) {
    for (const source of sources!.split(' ')) {
      const inRepo = from ? path.relative('/app', source) : source;
      cpSync(path.join(root, inRepo), path.join(app, dest!.endsWith('/') ? path.basename(inRepo) : dest!), { recursive: true });
    }
  }
  const install = runtimeStage.match(/^RUN (npm install [^&\n]+?)\s*(&&|$)/m)![1]!;
  execFileSync('sh', ['-c', install], { cwd: app, stdio: 'ignore', env: { ...process.env, NODE_ENV: 'production' } });
}, 240_000);
afterAll(async () => {
  rmSync(app, { recursive: true, force: true });
  await database.drop();
});

const installed = (pkg: string): boolean => existsSync(path.join(app, 'node_modules', pkg, 'package.json'));

describe('the image', () => {
  it('runs as a non-root user', () => {
    expect(runtimeStage).toMatch(/^USER node$/m);
  });

  it('holds production dependencies only: no Prisma CLI or studio, no TypeScript, no test tools', () => {
    for (const pkg of ['prisma', 'typescript', '@prisma/studio-core', '@prisma/engines', 'jest', 'ts-jest'])
      expect([pkg, installed(pkg)]).toEqual([pkg, false]);
    for (const pkg of ['@prisma/client', '@prisma/adapter-pg', 'pg', 'bullmq', 'express'])
      expect([pkg, installed(pkg)]).toEqual([pkg, true]);
  });

  it('runs `node dist/src/main.js`, which gives itself the heap flags of its role: flags here would override NODE_OPTIONS', () => {
    expect(cmd).toEqual(['node', 'dist/src/main.js']);
  });

  it('starts from what the Dockerfile copies and answers /healthz and /readyz', async () => {
    const port = randomPort();
    const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
      cwd: app,
      env: {
        PATH: process.env.PATH!,
        NODE_ENV: 'production',
        ROLE: 'api',
        PORT: String(port),
        DATABASE_URL: database.url,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: `t-image-${Date.now()}`,
        RESEND_API_KEY: 're_test',
        EMAIL_FROM: 'Acme <auth@acme.example>',
        UNOSEND_API_KEY: 'un_test',
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    try {
      await waitFor(
        () =>
          fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.ok,
            () => false,
          ),
        { timeoutMs: 30_000 },
      );
      await waitFor(
        () =>
          fetch(`http://127.0.0.1:${port}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        { timeoutMs: 30_000 },
      );
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('docker-compose.yml', () => {
  const compose = yaml.load(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
    services: Record<
      string,
      { command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }> }
    >;
  };

  it('migrates in a one-shot service that the relay and the worker wait for, and neither migrates again', () => {
    expect(compose.services.migrate!.command).toEqual(['node', 'dist/scripts/migrate.js']);
    for (const name of ['relay', 'worker']) {
      expect(compose.services[name]!.depends_on!.migrate).toEqual({ condition: 'service_completed_successfully' });
      expect(compose.services[name]!.environment!.MIGRATE_ON_START).toBe('false');
    }
    expect(existsSync(path.join(root, 'dist/scripts/migrate.js'))).toBe(true);
  });

  it('splits the HTTP side and the workers', () => {
    expect(compose.services.relay!.environment!.ROLE).toBe('api');
    expect(compose.services.worker!.environment!.ROLE).toBe('worker');
  });
});
