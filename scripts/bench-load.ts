/**
 * bench:ingest's load generator, in its own process so its CPU is measured apart from the servers': posts a
 * new signed Clerk `email.created` on every request (autocannon: wrk would need an HMAC in Lua, since each
 * request needs its own id and signature). Prints one JSON line.
 * Usage: bench-load <url> <whsec_…> <seconds> <connections>
 */
import autocannon from 'autocannon';
import { signedClerkWebhook } from './bench-clerk-webhook';

export interface LoadFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

async function main(): Promise<void> {
  const [url, secret, seconds, connections] = process.argv.slice(2);
  const result = await autocannon({
    url: url!,
    method: 'POST',
    connections: Number(connections),
    duration: Number(seconds),
    requests: [{ setupRequest: (req) => ({ ...req, ...signedClerkWebhook(secret!) }) }],
  });
  const figures: LoadFigures = {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
  console.log(JSON.stringify(figures));
}

void main();
