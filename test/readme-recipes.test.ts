import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const recipesDir = path.join(root, 'scripts/recipes');

// The recipes are type-checked as files (tsc); the README shows them, so it must show them exactly.
it.each(readdirSync(recipesDir).filter((f) => f.endsWith('.ts')))('README shows scripts/recipes/%s verbatim', (file) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  expect(readme).toContain(readFileSync(path.join(recipesDir, file), 'utf8').trimEnd());
});
