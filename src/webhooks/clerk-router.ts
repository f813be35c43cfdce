import { Router } from 'express';
import type { Config } from '../config/env';
import type { MessageService } from '../delivery/message-service';
import { DependencyUnavailableError, NotConfiguredError } from '../lib/errors';
import { parseJsonBody } from '../lib/json';
import { bodyOf, rawBody } from './body';
import { interpretClerkEvent } from './clerk-event';
import { createSvixVerifier } from '../lib/svix';

export function clerkWebhookRouter({
  config,
  messages,
}: {
  config: Pick<Config, 'CLERK_WEBHOOK_SIGNING_SECRET'>;
  messages: Pick<MessageService, 'accept'>;
}): Router {
  const router = Router();
  const verifier = config.CLERK_WEBHOOK_SIGNING_SECRET ? createSvixVerifier(config.CLERK_WEBHOOK_SIGNING_SECRET) : null;

  router.post('/webhooks/clerk', rawBody, async (req, res) => {
    if (!verifier) {
      throw new NotConfiguredError('Set CLERK_WEBHOOK_SIGNING_SECRET to the whsec_… signing secret of your Clerk webhook endpoint');
    }
    const body = bodyOf(req);
    const { id: svixId } = verifier.verify(body, req.headers);
    const outcome = interpretClerkEvent(parseJsonBody(body), svixId);
    if (outcome.kind === 'ignored') {
      req.log.info({ svix_id: svixId, reason: outcome.reason }, 'clerk event ignored');
      res.locals.webhookOutcome = 'ignored';
      res.status(200).json({ ignored: true, reason: outcome.reason });
      return;
    }
    const result = await messages.accept(outcome.message);
    res.locals.messageId = result.messageId;
    // Recorded but not queued (Redis down): a 503 makes Svix deliver it again, and the repeat queues it.
    if (!result.queued) throw new DependencyUnavailableError('Queue unavailable; the message is recorded, retry later');
    if (result.duplicate) {
      res.locals.webhookOutcome = 'duplicate';
      res.status(200).json({ message_id: result.messageId, status: result.status, duplicate: true });
      return;
    }
    res.status(202).json({ message_id: result.messageId, status: 'queued' });
  });
  return router;
}
