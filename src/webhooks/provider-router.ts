import { Router } from 'express';
import type { ProviderEvents } from '../deliverability/provider-events';
import type { WebhookProvider } from '../providers/types';
import { bodyOf, rawBody } from './body';

/**
 * `POST /webhooks/<provider>` (resend, autosend): the provider's adapter verifies and parses, then the event is
 * stored and queued, and the answer is 200. Repeats answer 200 too (providers retry anything else). The event
 * is applied to its message by the `provider-events` worker. An adapter without its webhook secret throws
 * NotConfiguredError: 503 naming the variable.
 */
export function providerWebhookRouter({
  webhookProviders,
  providerEvents,
}: {
  webhookProviders: readonly WebhookProvider[];
  providerEvents: Pick<ProviderEvents, 'receive'>;
}): Router {
  const router = Router();
  for (const provider of webhookProviders) {
    router.post(`/webhooks/${provider.name}`, rawBody, async (req, res) => {
      const body = bodyOf(req);
      const event = provider.parseWebhook(body, req.headers);
      const { id, duplicate } = await providerEvents.receive(event);
      req.log.info(
        { provider: event.provider, provider_type: event.providerType, provider_event_id: id, duplicate },
        'provider event received',
      );
      res.status(200).json({ received: true, ...(duplicate ? { duplicate: true } : {}) });
    });
  }
  return router;
}
