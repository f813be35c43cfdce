import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';

/* The import-direction rule of eslint.config.mjs, run on a file as if it sat in a folder of src/. */

const eslint = new ESLint({ cwd: path.resolve(__dirname, '..') });

async function layeringErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

it.each([
  ['src/delivery/example.ts', "import type { SuppressionService } from '../deliverability/suppressions';"],
  ['src/providers/resend/example.ts', "import { bodyOf } from '../../webhooks/body';"],
  ['src/metrics/example.ts', "import type { Container } from '../container';"],
  ['src/lib/example.ts', "import type { Config } from '../config/env';"],
  ['src/verification/example.ts', "import { SendMessageBody } from '../api/send-router';"],
  ['src/http/example.ts', "import { dashboardRouter } from '../dashboard/router';"],
  ['src/queue/example.ts', "import { startWorkers } from '../../workers';"],
  ['src/deliverability/example.ts', "import { createOutboundPublisher } from '../outbound/events';"],
  ['src/outbound/example.ts', "import { webhookPages } from '../dashboard/webhooks-page';"],
  ['src/delivery/example.ts', "import { redisReady } from '../lifecycle';"],
])('%s may not: %s', async (file, code) => {
  const errors = await layeringErrors(file, `${code}\nexport {};\n`);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(/may import only .*eslint\.config\.mjs/);
});

it.each([
  ['src/deliverability/example.ts', "import type { SuppressionLookup } from '../delivery/suppression-lookup';"],
  ['src/providers/resend/example.ts', "import { createSvixVerifier } from '../../lib/svix';"],
  ['src/webhooks/example.ts', "import { toHttpError } from '../http/errors';"],
  ['src/config/example.ts', "import { EMAIL_ADDRESS } from '../lib/recipient';"],
  ['src/delivery/example.ts', "import { sendJob } from '../queue/catalog';\nimport { normalizeEmail } from './other';"],
  ['src/container.ts', "import { createApp } from './app';"],
  ['workers/example.ts', "import { JOB_CATALOG } from '../src/queue/catalog';"],
  ['src/outbound/example.ts', "import type { Alerts } from '../deliverability/alerts';"],
  ['src/dashboard/example.ts', "import type { WebhookEndpoints } from '../outbound/endpoints';"],
  ['src/worker-thread.ts', "import { buildContainer } from './container';"],
])('%s may: %s', async (file, code) => {
  expect(await layeringErrors(file, `${code}\nexport {};\n`)).toEqual([]);
});

it('places every folder of src/ in the layer table, so none escapes the rule', async () => {
  const folders = readdirSync(path.resolve(__dirname, '../src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== 'generated')
    .map((entry) => entry.name);
  const unruled = [];
  for (const folder of folders) {
    const config = await eslint.calculateConfigForFile(`src/${folder}/example.ts`);
    if (!config.rules?.['no-restricted-imports']) unruled.push(folder);
  }
  expect(unruled).toEqual([]);
});
