import { MessageStatus } from '../generated/prisma/enums';
import type { QueueSnapshot } from '../metrics/metrics';
import { lineChart } from './charts';
import { html, type SafeHtml } from './html';
import { duration, layout, level, percent, statusBadge, type PageContext } from './layout';
import { CHART_EVENT_TYPES, type HourlyOverview, type SmsDeliveryRow } from './overview';
import type { DeliverabilityRates, ProviderState, RateRow, Thresholds } from './sources';

/** The overview: what needs attention, the last 24 hours by hour, rates, providers and queues. */

export interface OverviewView {
  hourly: HourlyOverview;
  rates: DeliverabilityRates;
  queues: QueueSnapshot[];
  providers: ProviderState[];
  now: Date;
}

/** Why a rate is grey: it is not judged, not failing. */
const notJudged = (sent: number, t: Thresholds): SafeHtml | null =>
  sent < t.minSends ? html` <span class="small muted not-judged">not judged (${sent} of ${t.minSends} sends)</span>` : null;

function rateTable(title: string, rows: RateRow[], t: Thresholds): SafeHtml {
  if (!rows.length) return html`<section class="card"><h2>${title}</h2><p class="muted">Nothing sent by email in the window.</p></section>`;
  return html`<section class="card"><h2>${title}</h2><div class="table-wrap"><table>
  <thead><tr><th></th><th class="num">Sent</th><th class="num">Bounce rate</th><th class="num">Complaint rate</th></tr></thead>
  <tbody>${rows.map(
    (r) => html`<tr><td>${r.key}${r.sent < t.minSends ? html`<div>${notJudged(r.sent, t)}</div>` : null}</td><td class="num">${r.sent}</td>
      <td class="num lvl-${level(r.bounce_rate, t.bounce, r.sent, t.minSends)}">${percent(r.bounce_rate)} <span class="small">(${r.bounced})</span></td>
      <td class="num lvl-${level(r.complaint_rate, t.complaint, r.sent, t.minSends)}">${percent(r.complaint_rate, 3)} <span class="small">(${r.complained})</span></td></tr>`,
  )}</tbody></table></div>
  ${rows.some((r) => r.sent < t.minSends) ? html`<p class="small muted">Grey rates are not judged: a scope needs ${t.minSends} sends in the window (<code>ALERT_MIN_SENDS</code>) before its rates can warn or page.</p>` : null}</section>`;
}

/** SMS delivery per provider, from its status callbacks (Twilio's); a provider without callbacks shows sent only. */
function smsDeliveryTable(rows: SmsDeliveryRow[]): SafeHtml {
  if (!rows.length) return html`<section class="card"><h2>SMS delivery</h2><p class="muted">No SMS sent in the window.</p></section>`;
  const share = (n: number, of: number) => (of > 0 ? percent(n / of) : '–');
  return html`<section class="card"><h2>SMS delivery <span class="muted small">(24 h)</span></h2><div class="table-wrap"><table>
  <thead><tr><th>Provider</th><th class="num">Sent</th><th class="num">Delivered</th><th class="num">Undelivered</th></tr></thead>
  <tbody>${rows.map(
    (r) => html`<tr><td>${r.provider}</td><td class="num">${r.sent}</td>
      <td class="num">${share(r.delivered, r.sent)} <span class="small">(${r.delivered})</span></td>
      <td class="num ${r.undelivered > 0 ? 'lvl-warn' : ''}">${share(r.undelivered, r.sent)} <span class="small">(${r.undelivered})</span></td></tr>`,
  )}</tbody></table></div></section>`;
}

const CIRCUIT_LEVEL: Record<ProviderState['circuit'], string> = { closed: 'ok', half_open: 'warn', open: 'page' };

const until = (iso: string, now: Date): SafeHtml =>
  html`<time datetime="${iso}" title="${iso}">${duration(Math.max(0, Date.parse(iso) - now.getTime()))}</time>`;

/** Whether each provider is being used right now, and if not, why and until when. */
function providerHealth(providers: ProviderState[], now: Date): SafeHtml {
  if (!providers.length) return html`<section class="card"><h2>Providers</h2><p class="muted">No providers configured.</p></section>`;
  const state = (p: ProviderState): SafeHtml => {
    if (p.circuit === 'open')
      return html`<span class="lvl-page">circuit open</span> <span class="small">(skipped; probe in ${p.open_until ? until(p.open_until, now) : '–'})</span>`;
    if (p.circuit === 'half_open') return html`<span class="lvl-warn">half-open</span> <span class="small">(next send is a probe)</span>`;
    if (p.paused_until)
      return html`<span class="lvl-warn">paused</span> <span class="small">(rate limited; ${until(p.paused_until, now)} left)</span>`;
    return html`<span class="lvl-ok">in use</span>`;
  };
  return html`<section class="card"><h2>Providers</h2><div class="table-wrap"><table>
  <thead><tr><th>Provider</th><th>State</th><th class="num">Failures in a row</th><th class="num hide-narrow">Rate limit</th></tr></thead>
  <tbody>${providers.map(
    (p) => html`<tr><td>${p.provider}</td><td>${state(p)}</td>
      <td class="num ${p.consecutive_failures > 0 ? `lvl-${CIRCUIT_LEVEL[p.circuit] === 'ok' ? 'warn' : CIRCUIT_LEVEL[p.circuit]}` : ''}">${p.consecutive_failures}</td>
      <td class="num hide-narrow">${p.reported_per_second === null ? '–' : `${p.reported_per_second}/s`}</td></tr>`,
  )}</tbody></table></div></section>`;
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
  const t = v.rates.thresholds;
  const o = v.rates.overall;
  const tiles = Object.values(MessageStatus).map(
    (s) =>
      html`<a class="tile" href="/dashboard?status=${s}&amp;range=24h"><div class="small">${statusBadge(s)}</div><div class="n">${v.hourly.statuses[s] ?? 0}</div></a>`,
  );
  const queueRows = v.queues.map(
    (q) => html`<tr><td>${q.name}</td><td class="num">${q.counts.waiting ?? 0}</td><td class="num">${q.counts.active ?? 0}</td>
      <td class="num">${q.counts.delayed ?? 0}</td><td class="num">${q.counts.failed ?? 0}</td>
      <td class="num">${q.oldestWaitingSeconds === null ? '–' : duration(q.oldestWaitingSeconds * 1000)}</td></tr>`,
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
${lineChart({
  title: 'Accepted → sent',
  labels,
  unit: 's',
  series: [
    { name: 'p50', cls: 'c-p50', values: v.hourly.acceptedToSent.p50 },
    { name: 'p95', cls: 'c-p95', values: v.hourly.acceptedToSent.p95 },
  ],
})}
${lineChart({
  title: 'Sent → delivered',
  labels,
  unit: 's',
  series: [
    { name: 'p50', cls: 'c-p50', values: v.hourly.sentToDelivered.p50 },
    { name: 'p95', cls: 'c-p95', values: v.hourly.sentToDelivered.p95 },
  ],
})}
</div>
<div class="grid">
${rateTable('By provider', v.rates.providers, t)}
${rateTable('By recipient domain', v.rates.domains, t)}
</div>
<div class="grid">
${smsDeliveryTable(v.hourly.smsDelivery)}
</div>
<div class="grid">
<section class="card"><h2>Queues <a class="small" href="/dashboard/queues">details</a></h2><div class="table-wrap"><table>
  <thead><tr><th>Queue</th><th class="num">Waiting</th><th class="num">Active</th><th class="num">Delayed</th><th class="num">Failed</th><th class="num">Oldest waiting</th></tr></thead>
  <tbody>${queueRows}</tbody></table></div></section>
${providerHealth(v.providers, v.now)}
</div>`,
  );
}
