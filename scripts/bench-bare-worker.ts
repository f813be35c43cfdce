/**
 * The baseline of `bench:deliver`: a bare BullMQ worker making the relay's own provider call (the Resend
 * adapter, to the same fake) at the same concurrency, with no database, no lease and no timeline. What the
 * relay achieves against it is what its bookkeeping costs.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createResendProvider } from '../src/providers/resend/resend-provider';
import { BARE_QUEUE } from './bench-relay';

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const resend = createResendProvider({ apiKey: process.env.RESEND_API_KEY, baseUrl: process.env.RESEND_BASE_URL!, timeoutMs: 10_000 });

const worker = new Worker<{ id: string }>(
  BARE_QUEUE,
  async (job) => {
    const { id } = job.data;
    await resend.send({
      messageId: id,
      to: `user-${id}@example.com`,
      from: 'Acme <notifications@acme.example>',
      subject: '482913 is your verification code',
      html: '<!DOCTYPE html><html><body><p>Your Acme verification code:</p><p><b>482913</b></p></body></html>',
      text: '482913 is your Acme verification code.',
      headers: { 'X-Entity-Ref-ID': id },
      tags: [
        { name: 'message_id', value: id },
        { name: 'template', value: 'verification_code' },
      ],
      idempotencyKey: `bare/${id}`,
    });
  },
  { connection, prefix: process.env.QUEUE_PREFIX, concurrency: Number(process.env.BARE_CONCURRENCY ?? 50), removeOnComplete: { count: 0 } },
);

process.once('SIGTERM', () => {
  void worker.close().then(() => {
    connection.disconnect();
    process.exit(0);
  });
});
