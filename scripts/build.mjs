// `npm run build` (always) and `--if-stale` (npm install, npm start, npm test, the CLI): generate the Prisma
// client and compile to dist/, then stamp dist/. Plain JavaScript because it runs before anything is compiled.
// With --if-stale it only compares modification times against the stamp, which takes milliseconds, so a built
// checkout starts at once and an edited one is rebuilt first.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const STAMP = path.join(root, 'dist', '.build-stamp');
// What the build reads; src/generated is the build's own output.
const INPUTS = [
  'src',
  'workers',
  'scripts',
  'test',
  'prisma/schema.prisma',
  'prisma/prisma.config.ts',
  'tsconfig.json',
  'package.json',
  'package-lock.json',
];
const SKIP = new Set([path.join(root, 'src', 'generated')]);

function newestMtime(file) {
  if (SKIP.has(file)) return 0;
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

function isStale() {
  const built = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs;
  return built === undefined || INPUTS.some((input) => newestMtime(path.join(root, input)) > built);
}

function run(command, args) {
  // Output goes to stderr: `npm run relay -- … --json` keeps stdout for its answer.
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 2, 2], shell: process.platform === 'win32' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!process.argv.includes('--if-stale') || isStale()) {
  run('sh', ['scripts/prisma-generate.sh']);
  run('tsc', ['-p', '.']);
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}
