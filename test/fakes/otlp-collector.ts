import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A local OpenTelemetry collector's OTLP/HTTP trace receiver, JSON encoding (opentelemetry-proto's
 * `docs/specification.md`, "OTLP/HTTP"): `POST /v1/traces` with `Content-Type: application/json` (optionally
 * `Content-Encoding: gzip`) carrying an `ExportTraceServiceRequest`; the answer is 200 with an
 * `ExportTraceServiceResponse` (`{}` when every span was accepted). A body that is not one is 400 with a
 * `google.rpc.Status`; protobuf (which this receiver does not decode) is 415; other paths 404.
 */

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
};
interface KeyValue {
  key: string;
  value: AnyValue;
}

/** One received span, its attributes flattened to a record. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** SPAN_KIND_*: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  /** STATUS_CODE_*: 0 unset, 1 ok, 2 error. */
  status: { code?: number; message?: string };
  resource: Record<string, unknown>;
}

export interface OtlpCollector {
  url: string;
  spans: ReceivedSpan[];
  /** The headers of every export request (to check OTEL_EXPORTER_OTLP_HEADERS arrived). */
  requestHeaders: Record<string, string | string[] | undefined>[];
  close(): Promise<void>;
}

const valueOf = (v: AnyValue): unknown =>
  v.stringValue ??
  (v.intValue !== undefined ? Number(v.intValue) : undefined) ??
  v.boolValue ??
  v.doubleValue ??
  v.arrayValue?.values.map(valueOf);
const record = (kvs: KeyValue[] = []): Record<string, unknown> => Object.fromEntries(kvs.map((kv) => [kv.key, valueOf(kv.value)]));

interface ExportTraceServiceRequest {
  resourceSpans: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans: {
      spans: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: KeyValue[];
        links?: { traceId: string; spanId: string }[];
        status?: { code?: number; message?: string };
      }[];
    }[];
  }[];
}

function isExportRequest(body: unknown): body is ExportTraceServiceRequest {
  return typeof body === 'object' && body !== null && Array.isArray((body as ExportTraceServiceRequest).resourceSpans);
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: ReceivedSpan[] = [];
  const requestHeaders: OtlpCollector['requestHeaders'] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const answer = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method !== 'POST' || req.url !== '/v1/traces') return answer(404, { code: 5, message: 'not found' });
    if (!req.headers['content-type']?.startsWith('application/json'))
      return answer(415, { code: 3, message: 'this receiver takes application/json' });
    let body: unknown;
    try {
      const raw = Buffer.concat(chunks);
      body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
    } catch {
      return answer(400, { code: 3, message: 'body is not JSON' });
    }
    if (!isExportRequest(body)) return answer(400, { code: 3, message: 'body is not an ExportTraceServiceRequest' });
    requestHeaders.push(req.headers);
    for (const rs of body.resourceSpans) {
      const resource = record(rs.resource?.attributes);
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            kind: s.kind,
            attributes: record(s.attributes),
            links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
            status: s.status ?? {},
            resource,
          });
        }
      }
    }
    answer(200, {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    requestHeaders,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
