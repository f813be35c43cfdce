import { Router } from 'express';
import type { Config } from '../config/env';
import type { ProviderEvents } from '../deliverability/provider-events';
import { NotConfiguredError } from '../lib/errors';
import { createAutosendWebhookParser } from '../providers/autosend/autosend-webhook';
import { createResendWebhookParser } from '../providers/resend/resend-webhook';
import type { ProviderWebhookParser } from '../providers/types';
import { rawBody } from './clerk-router';

/**
 * `POST /webhooks/resend` and `POST /webhooks/autosend`: verify, store, queue, answer 200. Repeats answer 200
 * too (providers retry anything else). The event is applied to its message by the `provider-events` worker.
 */
export function providerWebhookRouter({
  config,
  providerEvents,
}: {
  config: Pick<Config, 'RESEND_WEBHOOK_SECRET' | 'AUTOSEND_WEBHOOK_SECRET'>;
  providerEvents: Pick<ProviderEvents, 'receive'>;
}): Router {
  const router = Router();
  const endpoints: { path: string; parser: ProviderWebhookParser | null; missing: string }[] = [
    {
      path: '/webhooks/resend',
      parser: config.RESEND_WEBHOOK_SECRET ? createResendWebhookParser(config.RESEND_WEBHOOK_SECRET) : null,
      missing: 'Set RESEND_WEBHOOK_SECRET to the whsec_… signing secret of your Resend webhook',
    },
    {
      path: '/webhooks/autosend',
      parser: config.AUTOSEND_WEBHOOK_SECRET ? createAutosendWebhookParser(config.AUTOSEND_WEBHOOK_SECRET) : null,
      missing: 'Set AUTOSEND_WEBHOOK_SECRET to the signing secret of your Autosend webhook',
    },
  ];
  for (const { path, parser, missing } of endpoints) {
    router.post(path, rawBody, async (req, res) => {
      if (!parser) throw new NotConfiguredError(missing);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const event = parser.parseWebhook(body, req.headers);
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
