import { Router, type Request } from 'express';
import type { ProviderEvents } from '../deliverability/provider-events';
import type { Config } from '../config/env';
import type { WebhookProvider } from '../providers/types';
import { bodyOf, rawBody } from './body';

/** Where the provider posted: PUBLIC_URL when set (behind a proxy the Host header is the proxy's), else the Host header. */
function requestUrl(req: Request, publicUrl: string | undefined): string {
  const base = publicUrl ? publicUrl.replace(/\/+$/, '') : `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  return `${base}${req.originalUrl}`;
}

/**
 * `POST /webhooks/<provider>` (and paths under it, which Twilio status callbacks use): the provider's adapter verifies and parses, then the event is
 * stored and queued, and the answer is 200. Repeats answer 200 too (providers retry anything else). The event
 * is applied to its message by the `provider-events` worker. An adapter without its webhook secret throws
 * NotConfiguredError: 503 naming the variable.
 */
export function providerWebhookRouter({
  webhookProviders,
  providerEvents,
  config,
}: {
  webhookProviders: readonly WebhookProvider[];
  providerEvents: Pick<ProviderEvents, 'receive'>;
  config: Pick<Config, 'PUBLIC_URL'>;
}): Router {
  const router = Router();
  for (const provider of webhookProviders) {
    router.post([`/webhooks/${provider.name}`, `/webhooks/${provider.name}/*path`], rawBody, async (req, res) => {
      const body = bodyOf(req);
      const event = await provider.parseWebhook(body, req.headers, { url: requestUrl(req, config.PUBLIC_URL) });
      if (!event) {
        res.status(200).json({ received: true });
        return;
      }
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
