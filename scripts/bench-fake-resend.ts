/**
 * bench:ingest's provider: the tests' fake Resend (test/fakes/fake-resend.ts, idempotency keys, rate-limit
 * headers) answering every send after BENCH_PROVIDER_LATENCY_MS (default 50 ms). Its own process, so its CPU is
 * not counted as the relay's; prints its URL on the first line of stdout.
 */
import { FAKE_RESEND_KEY, resendAnswers, startFakeResend } from '../test/fakes/fake-resend';

async function main(): Promise<void> {
  const fake = await startFakeResend();
  fake.setDefault(resendAnswers.ok(Number(process.env.BENCH_PROVIDER_LATENCY_MS ?? 50)));
  // Only the count matters here: the recorded requests would grow for the whole run.
  setInterval(() => {
    fake.requests.length = 0;
    fake.deliveries.length = 0;
  }, 1_000).unref();
  console.log(JSON.stringify({ url: fake.url, apiKey: FAKE_RESEND_KEY }));
  process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
}

void main();
