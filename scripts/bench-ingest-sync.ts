/**
 * bench:ingest's fifth server: the synchronous Clerk recipe many apps start with. It verifies the Svix
 * signature with the `svix` package, calls the provider inline with the Resend SDK (RESEND_BASE_URL points it
 * at the bench's fake) and answers Clerk only when the provider has. No Postgres, no queue: nothing survives a
 * crash, and every webhook holds a connection for the provider's latency.
 */
import express from 'express';
import { Resend } from 'resend';
import { Webhook } from 'svix';

const webhook = new Webhook(process.env.CLERK_WEBHOOK_SIGNING_SECRET!);
const resend = new Resend(process.env.RESEND_API_KEY);

interface EmailCreated {
  data: { id: string; to_email_address: string; subject: string; body?: string; body_plain?: string };
}

const app = express();
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
app.post('/webhooks/clerk', express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
  let event: EmailCreated;
  try {
    webhook.verify(req.body as Buffer, req.headers as Record<string, string>);
    event = JSON.parse((req.body as Buffer).toString('utf8')) as EmailCreated;
  } catch {
    res.status(401).end();
    return;
  }
  const { data, error } = await resend.emails.send(
    {
      from: 'Acme <auth@acme.test>',
      to: event.data.to_email_address,
      subject: event.data.subject,
      html: event.data.body ?? '',
      text: event.data.body_plain ?? '',
    },
    { idempotencyKey: event.data.id },
  );
  if (error) res.status(503).json({ error: error.message });
  else res.status(200).json({ id: data.id });
});

const server = app.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
