import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, parseConfig } from '../src/config/env';
import * as semconv from '@opentelemetry/semantic-conventions';
import * as spanAttributeNames from '../src/lib/tracing';
import { contextFromTraceparent, startTracing, withSpan } from '../src/lib/tracing';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { resendEvent, signedResend, TEST_RESEND_WEBHOOK_SECRET } from './helpers/provider-webhooks';
import { logged, obliterateQueues, startService, type Service } from './helpers/service';
import { waitFor } from './helpers/wait';
import { FAKE_CLERK_SECRET_KEY, startFakeClerk, type FakeClerk } from './fakes/fake-clerk';
import { FAKE_RESEND_KEY, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';
import { startOtlpCollector, type OtlpCollector, type ReceivedSpan } from './fakes/otlp-collector';

/**
 * Issue 16 item 6: one trace per message, exported over OTLP/HTTP (JSON) to a local collector, from the
 * Clerk webhook through the send job and the Resend request to the provider events and the Clerk
 * write-back; nothing secret in it; and without OTEL_EXPORTER_OTLP_ENDPOINT no SDK module is loaded.
 */

const SERVER = 2;
const CLIENT = 3;
const CONSUMER = 5;
const COLLECTOR_TOKEN = 'collector-token-7f3a91';
const API_KEY = 'app-key-0123456789abcdef';
/** A trace an app calling the send API is in (W3C `traceparent`: version, trace id, parent span id, sampled). */
const APP_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const APP_SPAN_ID = '00f067aa0ba902b7';

let database: TestDatabase;
let collector: OtlpCollector;
let resend: IdempotentFake;
let clerk: FakeClerk;
const prefix = `t-trace-${Date.now()}`;

beforeAll(async () => {
  [database, collector, resend, clerk] = await Promise.all([
    createTestDatabase(),
    startOtlpCollector(),
    startFakeResend(),
    startFakeClerk(),
  ]);
});
afterAll(async () => {
  await obliterateQueues(prefix);
  await Promise.all([collector.close(), resend.close(), clerk.close()]);
  await database.drop();
});

describe('a Clerk email, traced', () => {
  const otp = '570319';
  const address = `tracy-${randomBytes(4).toString('hex')}@traced.example`;
  let service: Service;
  let messageId: string;
  let spans: ReceivedSpan[];

  beforeAll(async () => {
    service = startService({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET,
      EMAIL_FROM: 'Acme <auth@acme.example>',
      CLERK_SECRET_KEY: FAKE_CLERK_SECRET_KEY,
      CLERK_API_URL: clerk.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${COLLECTOR_TOKEN}`,
      API_KEYS: API_KEY,
    });
    try {
      await waitFor(() => logged(service, 'auth-relay ready'), { timeoutMs: 20_000 });
      const base = `http://127.0.0.1:${service.port}`;
      const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
      messageId = await acceptClerkEvent(
        (p, init) => fetch(base + p, init),
        emailCreated({ otp, to: address, data: { user_id: user.id } }),
      );
      const sent = await waitFor(() => database.db.message.findFirst({ where: { id: messageId, status: 'sent' } }), { timeoutMs: 20_000 });

      const providerWebhook = async (type: string, data: Record<string, unknown> = {}) => {
        const res = await fetch(`${base}/webhooks/resend`, {
          method: 'POST',
          ...signedResend(resendEvent(type, { email_id: sent.providerMessageId, to: [address], ...data })),
        });
        expect(res.status).toBe(200);
      };
      await providerWebhook('email.delivered');
      await waitFor(() => database.db.message.findFirst({ where: { id: messageId, status: 'delivered' } }), { timeoutMs: 20_000 });
      await providerWebhook('email.bounced', {
        bounce: { type: 'Permanent', subType: 'General', message: 'No such user', diagnosticCode: ['smtp; 550 5.1.1'] },
      });
      await waitFor(() => database.db.messageEvent.findFirst({ where: { messageId, type: 'clerk_writeback' } }), { timeoutMs: 20_000 });

      const api = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${API_KEY}`,
          'content-type': 'application/json',
          traceparent: `00-${APP_TRACE_ID}-${APP_SPAN_ID}-01`,
        },
        body: JSON.stringify({ channel: 'email', to: address, subject: 'Welcome', text: 'Hi' }),
      });
      expect(api.status).toBe(202);
      const apiMessageId = ((await api.json()) as { message_id: string }).message_id;
      await waitFor(() => database.db.message.findFirst({ where: { id: apiMessageId, status: { not: 'queued' } } }), { timeoutMs: 20_000 });

      // SIGTERM flushes the spans still in the batch.
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
    } finally {
      service.child.kill('SIGKILL');
    }
    spans = collector.spans;
  });

  const one = (predicate: (s: ReceivedSpan) => boolean): ReceivedSpan => {
    const found = spans.filter(predicate);
    expect(found).toHaveLength(1);
    return found[0]!;
  };

  it('exports the receipt, the send job and the Resend request as one trace', () => {
    const receipt = one((s) => s.name === 'POST /webhooks/clerk');
    expect(receipt).toMatchObject({
      kind: SERVER,
      parentSpanId: undefined,
      attributes: { 'http.request.method': 'POST', 'http.route': '/webhooks/clerk', 'http.response.status_code': 202 },
    });
    const trace = spans.filter((s) => s.traceId === receipt.traceId);

    const send = one((s) => s.name === 'send process' && s.traceId === receipt.traceId);
    expect(send).toMatchObject({ traceId: receipt.traceId, parentSpanId: receipt.spanId, kind: CONSUMER });
    expect(send.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.destination.name': 'send',
      'auth_relay.message_id': messageId,
      'auth_relay.outcome': 'sent',
    });

    const request = one((s) => s.name === 'resend send' && s.traceId === receipt.traceId);
    expect(request).toMatchObject({
      traceId: receipt.traceId,
      parentSpanId: send.spanId,
      kind: CLIENT,
      attributes: { 'auth_relay.provider': 'resend', 'auth_relay.outcome': 'sent' },
    });
    expect(trace.map((s) => s.name)).toEqual(expect.arrayContaining(['POST /webhooks/clerk', 'send process', 'resend send']));
    expect(receipt.resource['service.name']).toBe('auth-relay');
  });

  it('the provider events and the Clerk write-back join the message trace, linked to the webhooks that brought them', () => {
    const receipt = one((s) => s.name === 'POST /webhooks/clerk');
    const applied = spans.filter((s) => s.name === 'provider_event apply');
    expect(applied.map((s) => s.attributes['auth_relay.event_type']).sort()).toEqual(['bounced', 'delivered']);
    // (The route of `/webhooks/<provider>` is labelled `/webhooks/*`, as in the metrics: it is matched by a list of paths.)
    const webhooks = spans.filter((s) => s.kind === SERVER && s.name.startsWith('POST /webhooks/') && s.name !== 'POST /webhooks/clerk');
    expect(webhooks).toHaveLength(2);
    for (const span of applied) {
      expect(span).toMatchObject({
        traceId: receipt.traceId,
        parentSpanId: receipt.spanId,
        attributes: { 'auth_relay.message_id': messageId, 'auth_relay.provider': 'resend' },
      });
      // The link names the provider-events job span, which continues its webhook's own trace.
      const job = one((s) => s.spanId === span.links[0]!.spanId);
      expect(job).toMatchObject({ name: 'provider-events process', kind: CONSUMER });
      expect(webhooks.map((w) => w.spanId)).toContain(job.parentSpanId);
      expect(job.traceId).not.toBe(receipt.traceId);
    }
    const bounce = applied.find((s) => s.attributes['auth_relay.event_type'] === 'bounced')!;
    const writeback = one((s) => s.name === 'clerk-writeback process');
    expect(writeback).toMatchObject({
      traceId: receipt.traceId,
      parentSpanId: bounce.spanId,
      attributes: { 'auth_relay.outcome': 'updated' },
    });
  });

  it("continues an API caller's traceparent through the send job", () => {
    const receipt = one((s) => s.name === 'POST /v1/messages');
    expect(receipt).toMatchObject({
      traceId: APP_TRACE_ID,
      parentSpanId: APP_SPAN_ID,
      kind: SERVER,
      attributes: { 'http.response.status_code': 202 },
    });
    expect(spans.filter((s) => s.name === 'send process' && s.traceId === APP_TRACE_ID).map((s) => s.parentSpanId)).toEqual([
      receipt.spanId,
    ]);
  });

  it('puts no code, body, secret or address in any span, and sends OTEL_EXPORTER_OTLP_HEADERS to the collector', () => {
    const exported = JSON.stringify(spans);
    for (const secret of [
      otp,
      address,
      address.split('@')[0]!,
      'verification code',
      'Welcome',
      API_KEY,
      TEST_CLERK_SECRET,
      FAKE_RESEND_KEY,
      TEST_RESEND_WEBHOOK_SECRET,
      FAKE_CLERK_SECRET_KEY,
      TEST_ADMIN_TOKEN,
      COLLECTOR_TOKEN,
    ]) {
      expect(exported).not.toContain(secret);
    }
    expect(collector.requestHeaders.every((h) => h.authorization === `Bearer ${COLLECTOR_TOKEN}`)).toBe(true);
    expect(service.lines.join('\n')).not.toContain(COLLECTOR_TOKEN);
  });

  it('writes trace_id on the log lines written inside a span', () => {
    const receipt = one((s) => s.name === 'POST /webhooks/clerk');
    const lines = service.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message_id === messageId);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.trace_id === receipt.traceId).length).toBeGreaterThan(0);
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  const dist = path.resolve(__dirname, '..', 'dist');
  /** The @opentelemetry packages a child process holds after loading the service's modules and starting tracing. */
  function otelLoaded(env: Record<string, string>): string[] {
    const script = `
      require(${JSON.stringify(path.join(dist, 'src', 'container.js'))});
      require(${JSON.stringify(path.join(dist, 'src', 'app.js'))});
      require(${JSON.stringify(path.join(dist, 'workers', 'index.js'))});
      const { parseConfig } = require(${JSON.stringify(path.join(dist, 'src', 'config', 'env.js'))});
      const { startTracing } = require(${JSON.stringify(path.join(dist, 'src', 'lib', 'tracing.js'))});
      startTracing(parseConfig(process.env)).then(async (tracing) => {
        const packages = new Set(Object.keys(require.cache).map((f) => /node_modules\\/(@opentelemetry\\/[^/]+)\\//.exec(f)?.[1]).filter(Boolean));
        await tracing.shutdown();
        process.stdout.write(JSON.stringify([...packages].sort()));
      });
    `;
    const base = { PATH: process.env.PATH ?? '', DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/unused' };
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8' })) as string[];
  }

  it('loads no OpenTelemetry SDK module, only the API', () => {
    expect(otelLoaded({})).toEqual(['@opentelemetry/api']);
  });

  it('names its attributes as the semantic conventions do, without loading them', () => {
    const { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } = semconv;
    expect(spanAttributeNames).toMatchObject({
      ATTR_ERROR_TYPE,
      ATTR_HTTP_REQUEST_METHOD,
      ATTR_HTTP_RESPONSE_STATUS_CODE,
      ATTR_HTTP_ROUTE,
    });
  });

  it('with it set, loads the SDK and the exporter of the protocol asked for', () => {
    const loaded = otelLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    expect(loaded).toEqual(expect.arrayContaining(['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-proto']));
  });
});

describe('tracing configuration', () => {
  const problems = (env: Record<string, string>): string => {
    try {
      parseConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return '';
  };

  it('refuses grpc, unknown samplers, ratios outside 0..1, bad headers and bad endpoints, naming the variable', () => {
    expect(problems({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL: .*grpc is not supported/);
    expect(problems({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toMatch(/OTEL_TRACES_SAMPLER: must be one of/);
    expect(problems({ OTEL_TRACES_SAMPLER_ARG: '1.5' })).toMatch(/OTEL_TRACES_SAMPLER_ARG: /);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT: /);
    const headers = problems({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key secret-value-1234' });
    expect(headers).toMatch(/OTEL_EXPORTER_OTLP_HEADERS: each header must be name=value/);
    expect(headers).not.toContain('secret-value-1234');
    expect(problems({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key=%E0%A4%A' })).toMatch(/OTEL_EXPORTER_OTLP_HEADERS: /);
  });

  it('reads the standard defaults and decodes header values', () => {
    const config = parseConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=abc%3D%3D, dataset = auth' });
    expect(config).toMatchObject({
      OTEL_SERVICE_NAME: 'auth-relay',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_EXPORTER_OTLP_HEADERS: { 'x-honeycomb-team': 'abc==', dataset: 'auth' },
    });
  });
});

describe('sampling', () => {
  // In this test process (its own global OpenTelemetry state), last: the other tests trace in child processes.
  it('parentbased_traceidratio with ratio 0 drops new traces but keeps those a sampled caller started', async () => {
    const tracing = await startTracing(
      parseConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0',
      }),
    );
    const before = collector.spans.length;
    await withSpan('unsampled root', {}, async () => withSpan('unsampled child', {}, async () => undefined));
    await withSpan(
      'sampled by the caller',
      { parent: contextFromTraceparent(`00-${APP_TRACE_ID}-${APP_SPAN_ID}-01`) },
      async () => undefined,
    );
    await withSpan(
      'unsampled by the caller',
      { parent: contextFromTraceparent(`00-${APP_TRACE_ID}-${APP_SPAN_ID}-00`) },
      async () => undefined,
    );
    await tracing.shutdown();
    expect(collector.spans.slice(before).map((s) => [s.name, s.traceId, s.parentSpanId])).toEqual([
      ['sampled by the caller', APP_TRACE_ID, APP_SPAN_ID],
    ]);
  });
});
