import { z } from 'zod';
import type { OutboundDeliveries } from '../outbound/deliveries';
import { toEndpointJson, type EndpointJson, type WebhookEndpoints } from '../outbound/endpoints';
import { OUTBOUND_EVENT_TYPES } from '../outbound/events';
import { html, type SafeHtml } from './html';
import { duration, layout, localTime, statusBadge, type PageContext } from './layout';
import type { PageRoutes } from './pages';

/**
 * The webhook endpoints page: add an endpoint (its secret is shown once, on the page the form answers),
 * enable, disable, rotate the secret, delete, and each endpoint's delivery log with a resend per delivery.
 */

/** What the page reads and changes: the endpoints and their delivery log. */
export interface WebhookPagesOutbound {
  endpoints: WebhookEndpoints;
  deliveries: Pick<OutboundDeliveries, 'listLog' | 'resend'>;
}

const NOTICES: Record<string, string> = {
  enabled: 'Endpoint enabled.',
  disabled: 'Endpoint disabled: nothing is sent to it until it is enabled again.',
  deleted: 'Endpoint deleted.',
  resent: 'Queued again; it is being sent now.',
};

const EndpointForm = z.object({
  url: z.string().trim().min(1, 'url is required').max(2048),
  description: z.string().trim().max(500).default(''),
  event_types: z.union([z.enum(OUTBOUND_EVENT_TYPES), z.array(z.enum(OUTBOUND_EVENT_TYPES))]).optional(),
});

const withNotice = (ctx: PageContext, key: unknown): PageContext =>
  typeof key === 'string' && NOTICES[key] ? { ...ctx, notice: { text: NOTICES[key]! } } : ctx;

const csrfField = (ctx: PageContext): SafeHtml => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;

function button(ctx: PageContext, action: string, label: string, confirm?: string): SafeHtml {
  return html`<form method="post" action="${action}" ${confirm ? html`data-confirm="${confirm}"` : null}>${csrfField(ctx)}<button type="submit" class="${confirm ? 'danger' : ''}">${label}</button></form>`;
}

function endpointRow(ctx: PageContext, e: EndpointJson): SafeHtml {
  const base = `/dashboard/webhooks/${e.id}`;
  return html`<tr>
    <td><a class="mono" href="${base}">${e.url}</a>${e.description ? html`<div class="small muted">${e.description}</div>` : null}</td>
    <td class="small">${e.event_types ? e.event_types.join(', ') : 'all events'}</td>
    <td>${statusBadge(e.enabled ? 'enabled' : 'disabled')}${e.disabled_reason ? html`<div class="small muted">${e.disabled_reason}</div>` : null}${e.failing_since ? html`<div class="small">failing since ${localTime(e.failing_since)}</div>` : null}</td>
    <td class="nowrap">${button(ctx, `${base}/${e.enabled ? 'disable' : 'enable'}`, e.enabled ? 'Disable' : 'Enable')}
      ${button(ctx, `${base}/rotate`, 'Rotate secret', 'Rotate the secret? The current one keeps signing for 24 h.')}
      ${button(ctx, `${base}/delete`, 'Delete', `Delete ${e.url}?`)}</td>
  </tr>`;
}

function listPage(ctx: PageContext, endpoints: EndpointJson[], shown?: { endpoint: EndpointJson; secret: string }): string {
  const types = OUTBOUND_EVENT_TYPES.map(
    (t) => html`<label class="small"><input type="checkbox" name="event_types" value="${t}"> ${t}</label> `,
  );
  return layout(
    ctx,
    'webhooks',
    'Webhooks',
    html`<h1>Webhooks</h1>
<p class="muted">Events sent to your own systems, signed per Standard Webhooks (<code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>): verify them with the <code>standardwebhooks</code> or <code>svix</code> package and the endpoint's secret. Failed deliveries are retried for about a day; an endpoint failing for 5 days is disabled.</p>
${shown ? html`<div class="notice ok" role="status">Signing secret for ${shown.endpoint.url}, shown this once: <code>${shown.secret}</code></div>` : null}
${
  endpoints.length
    ? html`<div class="table-wrap"><table>
  <thead><tr><th>URL</th><th>Events</th><th>Status</th><th></th></tr></thead>
  <tbody>${endpoints.map((e) => endpointRow(ctx, e))}</tbody></table></div>`
    : html`<p class="muted">No endpoints yet.</p>`
}
<h2>Add an endpoint</h2>
<form method="post" action="/dashboard/webhooks">${csrfField(ctx)}
  <label class="search">URL<input type="url" name="url" required placeholder="https://example.com/webhooks/auth-relay"></label>
  <label>Description<input type="text" name="description" maxlength="500"></label>
  <fieldset><legend class="small">Events (none ticked: all)</legend>${types}</fieldset>
  <button type="submit">Add</button>
</form>`,
  );
}

type LogEntry = Awaited<ReturnType<OutboundDeliveries['listLog']>>['data'][number];

function logPage(ctx: PageContext, e: EndpointJson, entries: LogEntry[]): string {
  const rows = entries.map(
    (d) => html`<tr>
    <td>${d.event_type}<div class="small mono">${d.event_id}</div></td>
    <td>${statusBadge(d.status)}${d.next_attempt_at ? html`<div class="small">next ${localTime(d.next_attempt_at)}</div>` : null}</td>
    <td class="small">${d.attempts.map(
      (a) =>
        html`<div>${localTime(a.attempted_at)} · ${a.trigger} · ${a.outcome}${a.status_code ? html` ${a.status_code}` : null} · ${duration(a.latency_ms)}${a.error ? html` · ${a.error}` : null}${a.response ? html`<pre>${a.response}</pre>` : null}</div>`,
    )}</td>
    <td>${e.enabled ? button(ctx, `/dashboard/webhooks/${e.id}/deliveries/${d.id}/resend`, 'Resend') : null}</td>
  </tr>`,
  );
  return layout(
    ctx,
    'webhooks',
    `Webhook ${e.url}`,
    html`<p><a href="/dashboard/webhooks">← Webhooks</a></p>
<h1 class="mono">${e.url}</h1>
<p>${statusBadge(e.enabled ? 'enabled' : 'disabled')} ${e.description} ${e.disabled_reason ? html`<span class="muted">(${e.disabled_reason})</span>` : null}</p>
${
  entries.length
    ? html`<div class="table-wrap"><table>
  <thead><tr><th>Event</th><th>Delivery</th><th>Attempts (status, latency, first 1 KB of the answer)</th><th></th></tr></thead>
  <tbody>${rows}</tbody></table></div>`
    : html`<p class="muted">Nothing sent to this endpoint yet.</p>`
}`,
  );
}

export function webhookPages({ get, post, context, deps }: PageRoutes): void {
  const { endpoints, deliveries } = deps.outbound;
  const list = async () => (await endpoints.list()).map((e) => toEndpointJson(e));

  get('/dashboard/webhooks', async (req, res) => {
    res.type('html').send(listPage(withNotice(context(req), req.query.notice), await list()));
  });

  post('/dashboard/webhooks', async (req, res) => {
    const form = EndpointForm.parse(req.body);
    const types = form.event_types === undefined ? null : [form.event_types].flat();
    const { endpoint, secret } = await endpoints.create({ url: form.url, description: form.description, eventTypes: types });
    res.type('html').send(listPage(context(req), await list(), { endpoint: toEndpointJson(endpoint), secret }));
  });

  get('/dashboard/webhooks/:id', async (req, res) => {
    const endpoint = toEndpointJson(await endpoints.get(String(req.params.id)));
    const log = await deliveries.listLog(endpoint.id, { limit: 50 });
    res.type('html').send(logPage(withNotice(context(req), req.query.notice), endpoint, log.data));
  });

  for (const [action, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    post(`/dashboard/webhooks/:id/${action}`, async (req, res) => {
      await endpoints.update(String(req.params.id), { enabled });
      res.redirect(303, `/dashboard/webhooks?notice=${action}d`);
    });
  }

  post('/dashboard/webhooks/:id/rotate', async (req, res) => {
    const { endpoint, secret } = await endpoints.rotateSecret(String(req.params.id));
    res.type('html').send(listPage(context(req), await list(), { endpoint: toEndpointJson(endpoint), secret }));
  });

  post('/dashboard/webhooks/:id/delete', async (req, res) => {
    await endpoints.remove(String(req.params.id));
    res.redirect(303, '/dashboard/webhooks?notice=deleted');
  });

  post('/dashboard/webhooks/:id/deliveries/:delivery/resend', async (req, res) => {
    const id = String(req.params.id);
    await deliveries.resend(id, String(req.params.delivery));
    res.redirect(303, `/dashboard/webhooks/${encodeURIComponent(id)}?notice=resent`);
  });
}
