import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(__dirname, '..');
const scripts = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

describe('.env', () => {
  it('is read by npm start: a bad value in it stops start-up naming the variable', async () => {
    // What `npm start` runs once the build is up to date, in a folder whose .env sets PORT.
    const run = scripts.start!.split('&&').pop()!.trim();
    const dir = mkdtempSync(path.join(tmpdir(), 'auth-relay-env-'));
    try {
      symlinkSync(path.join(root, 'dist'), path.join(dir, 'dist'));
      writeFileSync(path.join(dir, '.env'), 'PORT=eighty\n');
      const env = { PATH: process.env.PATH! };
      const failure = await promisify(execFile)('sh', ['-c', run], { cwd: dir, env }).then(
        () => null,
        (err: { code: number; stderr: string }) => err,
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toMatch(/PORT: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('.env.example names only documented variables, and the scripts a newcomer runs read .env', () => {
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const names = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'CLERK_WEBHOOK_SIGNING_SECRET']));
    for (const name of names) expect([name, readme.includes(`\`${name}\``)]).toEqual([name, true]);
    for (const script of ['start', 'migrate', 'relay']) expect(scripts[script]).toContain('--env-file-if-exists=.env');
  });
});
