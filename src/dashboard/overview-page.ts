import { MessageStatus } from '../generated/prisma/enums';
import type { QueueSnapshot } from '../metrics/metrics';
import { lineChart } from './charts';
import { html, type SafeHtml } from './html';
import { duration, layout, level, percent, statusBadge, type PageContext } from './layout';
import { CHART_EVENT_TYPES, type HourlyOverview } from './overview';
import { notJudged, providerHealth, queueTable, rateTable, smsDeliveryTable, until } from './overview-tables';
import type { DeliverabilityRates, ProviderState } from './sources';

/** The overview: what needs attention, the last 24 hours by hour, rates, providers and queues. */

export interface OverviewView {
  hourly: HourlyOverview;
  rates: DeliverabilityRates;
  queues: QueueSnapshot[];
  providers: ProviderState[];
  now: Date;
}

/** Queued work older than this means sending is behind. */
const QUEUE_LAG_SECONDS = 30;

/** The hour a run of hours with some `values` began, when the run reaches the current hour. */
function runSince(values: number[], hours: Date[]): Date | null {
  let i = values.length - 1;
  if (!(values[i]! > 0)) return null;
  while (i > 0 && values[i - 1]! > 0) i -= 1;
  return hours[i]!;
}

const hourLabel = (d: Date): string => `${String(d.getUTCHours()).padStart(2, '0')}:00 UTC`;

/** What is wrong right now, and since when: the first thing the overview answers. */
function attention(v: OverviewView): SafeHtml {
  const items: SafeHtml[] = [];
  for (const p of v.providers) {
    if (p.circuit === 'open')
      items.push(
        html`<b>${p.provider}</b>: circuit open after ${p.consecutive_failures} failures in a row; messages go to the next provider${p.open_until ? html`, next probe in ${until(p.open_until, v.now)}` : null}`,
      );
    else if (p.circuit === 'half_open') items.push(html`<b>${p.provider}</b>: recovering; the next send is a probe`);
    else if (p.paused_until) items.push(html`<b>${p.provider}</b>: paused by its rate limit for ${until(p.paused_until, v.now)}`);
  }
  const t = v.rates.thresholds;
  for (const [what, rows, threshold, field, digits] of [
    ['bounce', [{ key: 'all providers', ...v.rates.overall }, ...v.rates.providers], t.bounce, 'bounce_rate', 2],
    ['complaint', [{ key: 'all providers', ...v.rates.overall }, ...v.rates.providers], t.complaint, 'complaint_rate', 3],
  ] as const) {
    for (const r of rows) {
      const lvl = level(r[field], threshold, r.sent, t.minSends);
      if (lvl === 'warn' || lvl === 'page') {
        items.push(
          html`<span class="lvl-${lvl}">${what} rate ${percent(r[field], digits)}</span> for ${r.key} over ${v.rates.window_hours} h (${lvl === 'page' ? 'page' : 'warn'} threshold ${percent(threshold[lvl], digits)})`,
        );
      }
    }
  }
  for (const q of v.queues) {
    if (q.oldestWaitingSeconds !== null && q.oldestWaitingSeconds > QUEUE_LAG_SECONDS) {
      items.push(
        html`<b>${q.name}</b> queue behind: ${q.counts.waiting ?? 0} waiting, the oldest for ${duration(q.oldestWaitingSeconds * 1000)}`,
      );
    }
  }
  for (const status of ['failed', 'expired'] as const) {
    const since = runSince(v.hourly.counts[status], v.hourly.hours);
    if (since)
      items.push(
        html`<a href="/dashboard?status=${status}&amp;range=24h">${v.hourly.counts[status].at(-1)} ${status} this hour</a>, and some every hour since ${hourLabel(since)}`,
      );
  }
  if (!items.length)
    return html`<div class="notice ok" role="status">Nothing needs attention: every provider is in use, rates are under their thresholds, queues are keeping up and nothing failed or expired this hour.</div>`;
  return html`<section class="card attention" role="alert"><h2>Needs attention</h2><ul>${items.map((i) => html`<li>${i}</li>`)}</ul></section>`;
}

export function overviewPage(ctx: PageContext, v: OverviewView): string {
  const labels = v.hourly.hours.map((h) => `${String(h.getUTCHours()).padStart(2, '0')}:00`);
  const latencyChart = (title: string, { p50, p95 }: HourlyOverview['acceptedToSent']) =>
    lineChart({
      title,
      labels,
      unit: 's',
      series: [
        { name: 'p50', cls: 'c-p50', values: p50 },
        { name: 'p95', cls: 'c-p95', values: p95 },
      ],
    });
  const t = v.rates.thresholds;
  const o = v.rates.overall;
  const tiles = Object.values(MessageStatus).map(
    (s) =>
      html`<a class="tile" href="/dashboard?status=${s}&amp;range=24h"><div class="small">${statusBadge(s)}</div><div class="n">${v.hourly.statuses[s] ?? 0}</div></a>`,
  );
  return layout(
    ctx,
    'overview',
    'Overview',
    html`<h1>Last 24 hours</h1>
${attention(v)}
<section class="card">
  <h2>Bounce and complaint rates <span class="muted small">(email, ${v.rates.window_hours} h)</span></h2>
  <p><span class="lvl-${level(o.bounce_rate, t.bounce, o.sent, t.minSends)}">Bounces ${percent(o.bounce_rate)}</span>
     <span class="muted small">warn ${percent(t.bounce.warn)}, page ${percent(t.bounce.page)}</span>
     · <span class="lvl-${level(o.complaint_rate, t.complaint, o.sent, t.minSends)}">Complaints ${percent(o.complaint_rate, 3)}</span>
     <span class="muted small">warn ${percent(t.complaint.warn, 3)}, page ${percent(t.complaint.page, 3)}</span>
     · <span class="muted">${o.sent} sent</span>${notJudged(o.sent, t)}</p>
  ${o.sent < t.minSends ? html`<p class="small muted">Rates are judged once ${t.minSends} emails are sent in the window (<code>ALERT_MIN_SENDS</code>); until then they show in grey and raise no alert.</p>` : null}
</section>
<h2>Messages accepted in the last 24 h, by status now</h2><div class="tiles">${tiles}</div>
<div class="grid">
${lineChart({ title: 'Events per hour', labels, series: CHART_EVENT_TYPES.map((type) => ({ name: type, cls: `c-${type}`, values: v.hourly.counts[type] })) })}
${latencyChart('Accepted → sent', v.hourly.acceptedToSent)}
${latencyChart('Sent → delivered', v.hourly.sentToDelivered)}
</div>
<div class="grid">
${rateTable('By provider', v.rates.providers, t)}
${rateTable('By recipient domain', v.rates.domains, t)}
</div>
<div class="grid">
${smsDeliveryTable(v.hourly.smsDelivery)}
</div>
<div class="grid">
${queueTable(v.queues)}
${providerHealth(v.providers, v.now)}
</div>`,
  );
}
