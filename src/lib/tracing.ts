import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import { DelayedError } from 'bullmq';
import type { Request, RequestHandler } from 'express';
import type { TracingConfig } from './tracing-sdk';

/**
 * OpenTelemetry traces, one per message: the request that brought it, its send job, each provider attempt,
 * the provider events that later update it and the Clerk write-back. The context travels in the W3C
 * `traceparent` form: in each job's data (`trace`) and on the message row, for events that arrive later.
 *
 * Only `@opentelemetry/api` is loaded here. The SDK and the exporter (`tracing-sdk.ts`) are imported by
 * `startTracing` when OTEL_EXPORTER_OTLP_ENDPOINT is set; until then every helper returns at its first line.
 * The state is this module's because OpenTelemetry's is global too (one registered provider per process).
 *
 * Attributes carry ids, names, statuses and counts only: never a code, a body, a secret or an address.
 */

/**
 * The stable semantic-convention names our spans carry. `@opentelemetry/semantic-conventions` is 3 MB of each
 * isolate's memory once loaded (the receiver's and the worker thread's), for four strings that the
 * conventions have declared stable; the SDK side (`tracing-sdk.ts`), loaded only when tracing is on, imports
 * the package itself, and a test holds these to its values.
 */
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const ATTR_HTTP_ROUTE = 'http.route';

/** The W3C trace context of whatever queued a job, in its data (job data is JSON in Redis). */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

export interface Traced {
  trace?: TraceCarrier;
}

export interface Tracing {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

let enabled = false;
const NO_TRACING: Tracing = { shutdown: async () => undefined };
/** What `withSpan` hands its function when tracing is off: setting attributes on it does nothing. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const NO_FIELDS = {};
const tracer = () => trace.getTracer('auth-relay');

/** Loads and registers the SDK when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise loads nothing. */
export async function startTracing(
  config: Omit<TracingConfig, 'OTEL_EXPORTER_OTLP_ENDPOINT'> & { OTEL_EXPORTER_OTLP_ENDPOINT?: string },
): Promise<Tracing> {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT) return NO_TRACING;
  const { registerTracing } = await import('./tracing-sdk');
  const tracing = registerTracing({ ...config, OTEL_EXPORTER_OTLP_ENDPOINT: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  enabled = true;
  return {
    async shutdown() {
      enabled = false;
      await tracing.shutdown();
    },
  };
}

export const tracingEnabled = (): boolean => enabled;

export interface SpanOptions {
  attributes?: Attributes;
  kind?: SpanKind;
  /** The context to start in; default the active one. */
  parent?: Context;
  links?: Link[];
  /** A throw that is how `fn` says "later", not a failure (BullMQ's DelayedError): the span stays OK. */
  expected?: (err: unknown) => boolean;
}

/**
 * Runs `fn` inside a new active span, ended when `fn` settles. A throw marks the span as an error by the
 * error's name only: messages can quote an address.
 */
export async function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!enabled) return fn(NO_SPAN);
  const { parent = context.active(), expected, ...spanOptions } = options;
  return tracer().startActiveSpan(name, spanOptions, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      if (expected?.(err)) throw err;
      const type = err instanceof Error ? err.name : 'Error';
      span.setAttribute(ATTR_ERROR_TYPE, type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active span's context as a carrier, or undefined when no span is active. */
function activeCarrier(): TraceCarrier | undefined {
  if (!enabled) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The active trace context as a `traceparent`, to keep with a message for what happens to it later. */
export const currentTraceparent = (): string | null => activeCarrier()?.traceparent ?? null;

/** `data` with the active trace context (or the given one) in `trace`, for a job that continues it. */
export function injectTraceContext<T extends object>(data: T, traceparent?: string | null): T & Traced {
  const carrier = traceparent ? { traceparent } : activeCarrier();
  return carrier ? { ...data, trace: carrier } : data;
}

/** A job (in the shape `add`/`addBulk` take) whose data carries the given trace context, or the active one. */
export function withTraceContext<J extends { data: object }>(job: J, traceparent?: string | null): J {
  return enabled ? { ...job, data: injectTraceContext(job.data, traceparent) } : job;
}

/** The context a job's data carries (the root context when it carries none). */
function contextFromJob(data: Traced): Context {
  return enabled && data.trace ? propagation.extract(ROOT_CONTEXT, data.trace) : ROOT_CONTEXT;
}

/** The context a stored `traceparent` names (the root context for null). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  return enabled && traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
}

/** The active span as a link, for a span that starts a trace of its own but was caused by this one. */
function linkToActive(): Link[] {
  const span = enabled ? trace.getActiveSpan() : undefined;
  return span ? [{ context: span.spanContext() }] : [];
}

/**
 * Runs `fn` in a span of the trace a message's stored `traceparent` names (a new trace for a message stored
 * without one), linked to the active span: a provider event arrives on a request of its own, later.
 */
export function inMessageTrace<T>(traceparent: string | null, name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  return withSpan(name, { parent: contextFromTraceparent(traceparent), links: linkToActive(), attributes }, fn);
}

/** Runs a BullMQ job's processor in a consumer span that continues the trace its data carries. */
export function withJobSpan<T>(queue: string, job: { id?: string; data: Traced }, fn: (span: Span) => Promise<T>): Promise<T> {
  return withSpan(
    `${queue} process`,
    {
      kind: SpanKind.CONSUMER,
      parent: contextFromJob(job.data),
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.destination.name': queue,
        'messaging.operation.type': 'process',
        'messaging.message.id': job.id,
      },
      expected: (err) => err instanceof DelayedError,
    },
    fn,
  );
}

/** pino's mixin: every log line written inside a span carries its trace and span ids. */
export function traceLogFields(): Record<string, string> {
  if (!enabled) return NO_FIELDS;
  const span = trace.getActiveSpan();
  if (!span) return NO_FIELDS;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/**
 * A server span for each request, named by its route template once the answer is known (never the raw
 * path: it can hold an address). An incoming `traceparent` (an app calling the send API) is continued.
 */
export function traceRequests(routeOf: (req: Request) => string): RequestHandler {
  return (req, res, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer().startSpan(req.method, { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: req.method } }, parent);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      const route = routeOf(req);
      span.updateName(`${req.method} ${route}`);
      span.setAttributes({ [ATTR_HTTP_ROUTE]: route, [ATTR_HTTP_RESPONSE_STATUS_CODE]: res.statusCode });
      if (!res.writableFinished) span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    context.with(trace.setSpan(parent, span), next);
  };
}
