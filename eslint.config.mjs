import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Which top-level folders of src/ each folder may import from. Dependencies point down: http/api/webhooks/
 * dashboard → the domain (outbound → deliverability → delivery, verification, templates) → db/queue/metrics/providers →
 * config → lib. `generated` is Prisma's client, part of the db layer. A folder always may import itself.
 * src/container.ts, src/main.ts, src/app.ts, the worker thread's files (worker-thread.ts, worker-supervisor.ts,
 * lifecycle.ts), workers/ and scripts/ compose everything and are not restricted.
 */
const INFRA = ['lib', 'config', 'db', 'generated'];
const DOMAIN_BELOW = [...INFRA, 'queue', 'metrics', 'providers'];
const WEB_BELOW = [...DOMAIN_BELOW, 'templates', 'delivery', 'deliverability', 'verification', 'outbound'];
const MAY_IMPORT = {
  lib: [],
  config: ['lib'],
  db: ['lib', 'config', 'generated'],
  queue: INFRA,
  metrics: INFRA,
  providers: INFRA,
  templates: DOMAIN_BELOW,
  delivery: [...DOMAIN_BELOW, 'templates'],
  deliverability: [...DOMAIN_BELOW, 'templates', 'delivery'],
  verification: [...DOMAIN_BELOW, 'templates', 'delivery'],
  // Event webhooks to tenants: told of message and suppression changes and alerts by hooks passed in.
  outbound: [...DOMAIN_BELOW, 'delivery', 'deliverability'],
  http: WEB_BELOW,
  api: [...WEB_BELOW, 'http'],
  webhooks: [...WEB_BELOW, 'http'],
  dashboard: [...WEB_BELOW, 'http'],
};
/** What only the composition root and the processes it starts may import. */
const COMPOSITION = ['container', 'main', 'app', 'worker-thread', 'worker-supervisor', 'lifecycle', 'workers', 'scripts'];

const layerBlocks = Object.entries(MAY_IMPORT).map(([folder, allowed]) => {
  const forbidden = [...Object.keys(MAY_IMPORT), 'generated', ...COMPOSITION].filter((f) => f !== folder && !allowed.includes(f));
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Relative imports only (the tree has no path aliases): `../x/…` or `../../x/…` out of src/<folder>/.
              regex: `^(\\.\\./)+(${forbidden.join('|')})(/|$)`,
              message: `src/${folder}/ may import only ${allowed.length ? allowed.map((f) => `src/${f}/`).join(', ') : 'packages'} (the layer table in eslint.config.mjs): move what both need down, or take it as an argument.`,
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/', 'src/generated/', 'coverage/', 'node_modules/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Node's globals for the plain-JS files (TypeScript checks its own; the `globals` package is not installed).
    files: ['**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
  {
    // CommonJS fixtures Node loads as they are (a worker thread's script, a --require preload).
    files: ['test/fixtures/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Provider SDKs are loaded only when their provider is configured (test/provider-sdk-loading.test.ts).
    files: ['src/providers/**/*.ts'],
    rules: {
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^postmark$', '^@aws-sdk/client-sesv2$', '^nodemailer$', '^twilio$'] }],
    },
  },
  {
    // Copied into users' apps, and shown verbatim in the README: the answer's JSON is theirs to type.
    files: ['scripts/recipes/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Expected CLI output is written as it prints, columns and all.
    files: ['test/**/*.ts'],
    rules: { 'no-regex-spaces': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  ...layerBlocks,
);
