/**
 * The benches' fake Resend, in a process of its own so that the load generator never delays its answers:
 * `POST /emails` answers after BENCH_PROVIDER_LATENCY_MS, announcing 100,000/s in its `ratelimit-*` headers
 * (plain node:http, as cheap as a server gets). It tells its parent its URL, then each request's idempotency
 * key and arrival time (epoch milliseconds, comparable across processes).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const latencyMs = Number(process.env.BENCH_PROVIDER_LATENCY_MS ?? 50);
const server = createServer((req, res) => {
  const at = performance.timeOrigin + performance.now();
  process.send!(['request', String(req.headers['idempotency-key'] ?? ''), at]);
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'ratelimit-limit': '100000',
        'ratelimit-remaining': '99999',
        'ratelimit-reset': '1',
        'ratelimit-policy': '100000;w=1',
      });
      res.end(JSON.stringify({ id: randomBytes(16).toString('hex') }));
    }, latencyMs);
  });
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => process.send!(['listening', `http://127.0.0.1:${(server.address() as AddressInfo).port}`]));
process.on('disconnect', () => process.exit(0));
