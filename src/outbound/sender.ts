import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { parseRetryAfter } from '../lib/retry-after';
import type { ResolvedAddress } from './address-policy';

/**
 * One POST of an event to an endpoint, connected to the address the policy checked (never resolved again by
 * the socket, so DNS cannot swap it in between), with the Host header, TLS SNI and certificate check still on
 * the URL's host name. Redirects are not followed: a 3xx is a failure, as Standard Webhooks says.
 */

export const RESPONSE_KEPT_BYTES = 1024;

export type AttemptOutcome = 'succeeded' | 'http_error' | 'timeout' | 'network_error' | 'refused';

export interface SendResult {
  outcome: AttemptOutcome;
  statusCode: number | null;
  latencyMs: number;
  /** The first 1 KB of the answer's body. */
  response: string | null;
  error: string | null;
  /** A 429 or 503's Retry-After: how long the endpoint asked us to wait before the next attempt. */
  retryAfterMs?: number;
}

export interface SendRequest {
  url: URL;
  address: ResolvedAddress;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

const pinned =
  (address: ResolvedAddress): LookupFunction =>
  (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: address.address, family: address.family }]);
    else callback(null, address.address, address.family);
  };

export function postEvent({ url, address, headers, body, timeoutMs }: SendRequest): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<SendResult, 'latencyMs'> & { latencyMs?: number }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ latencyMs: elapsed(), ...result });
    };
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup: pinned(address),
      agent: false,
    });
    const timer = setTimeout(
      () => finish({ outcome: 'timeout', statusCode: null, response: null, error: `no answer within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    request.on('response', (res) => {
      const latencyMs = elapsed();
      const statusCode = res.statusCode ?? 0;
      const retryAfterMs = statusCode === 429 || statusCode === 503 ? parseRetryAfter(res.headers['retry-after']) : undefined;
      const chunks: Buffer[] = [];
      let kept = 0;
      const done = () => {
        const response = Buffer.concat(chunks).subarray(0, RESPONSE_KEPT_BYTES).toString('utf8');
        const ok = statusCode >= 200 && statusCode < 300;
        finish({
          outcome: ok ? 'succeeded' : 'http_error',
          statusCode,
          latencyMs,
          response,
          error: ok ? null : `answered ${statusCode}`,
          retryAfterMs,
        });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        kept += chunk.length;
        if (kept >= RESPONSE_KEPT_BYTES) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    request.on('error', (err) => finish({ outcome: 'network_error', statusCode: null, response: null, error: err.message }));
    request.end(body);
  });
}
