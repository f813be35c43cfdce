import type { QueueSnapshot } from '../metrics/metrics';
import { html, type SafeHtml } from './html';
import { duration, level, percent } from './layout';
import type { SmsDeliveryRow } from './overview';
import type { ProviderState, RateRow, Thresholds } from './sources';

/** The overview's tables: rates by scope, SMS delivery, providers and queues (overview-page.ts lays them out). */

/** Why a rate is grey: it is not judged, not failing. */
export const notJudged = (sent: number, t: Thresholds): SafeHtml | null =>
  sent < t.minSends ? html` <span class="small muted not-judged">not judged (${sent} of ${t.minSends} sends)</span>` : null;

export function rateTable(title: string, rows: RateRow[], t: Thresholds): SafeHtml {
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
export function smsDeliveryTable(rows: SmsDeliveryRow[]): SafeHtml {
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

export const until = (iso: string, now: Date): SafeHtml =>
  html`<time datetime="${iso}" title="${iso}">${duration(Math.max(0, Date.parse(iso) - now.getTime()))}</time>`;

/** Whether each provider is being used right now, and if not, why and until when. */
export function providerHealth(providers: ProviderState[], now: Date): SafeHtml {
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

/** Each queue's counts and how long its oldest waiting job has waited. */
export function queueTable(queues: QueueSnapshot[]): SafeHtml {
  const queueRows = queues.map(
    (q) => html`<tr><td>${q.name}</td><td class="num">${q.counts.waiting ?? 0}</td><td class="num">${q.counts.active ?? 0}</td>
      <td class="num">${q.counts.delayed ?? 0}</td><td class="num">${q.counts.failed ?? 0}</td>
      <td class="num">${q.oldestWaitingSeconds === null ? '–' : duration(q.oldestWaitingSeconds * 1000)}</td></tr>`,
  );
  return html`<section class="card"><h2>Queues <a class="small" href="/dashboard/queues">details</a></h2><div class="table-wrap"><table>
  <thead><tr><th>Queue</th><th class="num">Waiting</th><th class="num">Active</th><th class="num">Delayed</th><th class="num">Failed</th><th class="num">Oldest waiting</th></tr></thead>
  <tbody>${queueRows}</tbody></table></div></section>`;
}
