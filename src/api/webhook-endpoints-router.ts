import { Router } from 'express';
import { z } from 'zod';
import type { OutboundDeliveries } from '../outbound/deliveries';
import { toEndpointJson, type WebhookEndpoints } from '../outbound/endpoints';
import { OUTBOUND_EVENT_TYPES } from '../outbound/events';

const eventTypes = z
  .array(z.enum(OUTBOUND_EVENT_TYPES, { error: `each must be one of ${OUTBOUND_EVENT_TYPES.join(', ')}` }))
  .max(OUTBOUND_EVENT_TYPES.length)
  .transform((types) => [...new Set(types)])
  // An empty list would mean "nothing"; null (or leaving it out) is the way to say "every type".
  .refine((types) => types.length > 0, 'must name at least one event type, or be null for all')
  .nullable();

const CreateBody = z.strictObject({
  url: z.string().trim().min(1).max(2048),
  description: z.string().trim().max(500).optional(),
  event_types: eventTypes.optional(),
  enabled: z.boolean().optional(),
});

const PatchBody = CreateBody.partial().refine((b) => Object.keys(b).length > 0, 'nothing to change');

const LogQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200, 'must be at most 200').default(50),
  cursor: z.string().min(1).optional(),
});

/** `/api/webhook-endpoints`: the tenant's endpoints, their secrets (shown on creation and rotation only) and delivery log. */
export function webhookEndpointsApiRouter({
  outbound,
}: {
  outbound: { endpoints: WebhookEndpoints; deliveries: Pick<OutboundDeliveries, 'listLog' | 'resend'> };
}): Router {
  const { endpoints, deliveries } = outbound;
  const router = Router();
  const base = '/webhook-endpoints';

  router.get(base, async (_req, res) => {
    res.json({ data: (await endpoints.list()).map((e) => toEndpointJson(e)) });
  });

  router.post(base, async (req, res) => {
    const body = CreateBody.parse(req.body ?? {});
    const { endpoint, secret } = await endpoints.create({
      url: body.url,
      description: body.description,
      eventTypes: body.event_types,
      enabled: body.enabled,
    });
    res.status(201).json({ ...toEndpointJson(endpoint), secret });
  });

  router.get(`${base}/:id`, async (req, res) => {
    res.json(toEndpointJson(await endpoints.get(req.params.id)));
  });

  router.patch(`${base}/:id`, async (req, res) => {
    const body = PatchBody.parse(req.body ?? {});
    const endpoint = await endpoints.update(req.params.id, {
      url: body.url,
      description: body.description,
      eventTypes: body.event_types,
      enabled: body.enabled,
    });
    res.json(toEndpointJson(endpoint));
  });

  router.delete(`${base}/:id`, async (req, res) => {
    await endpoints.remove(req.params.id);
    res.json({ deleted: true, id: req.params.id });
  });

  router.post(`${base}/:id/rotate-secret`, async (req, res) => {
    const { endpoint, secret } = await endpoints.rotateSecret(req.params.id);
    res.json({ ...toEndpointJson(endpoint), secret });
  });

  router.get(`${base}/:id/deliveries`, async (req, res) => {
    const q = LogQuery.parse(req.query);
    await endpoints.get(req.params.id);
    res.json(await deliveries.listLog(req.params.id, q));
  });

  router.post(`${base}/:id/deliveries/:delivery_id/resend`, async (req, res) => {
    await deliveries.resend(req.params.id, req.params.delivery_id);
    res.status(202).json({ queued: true });
  });

  return router;
}
