import type { Config } from '../config/env';
import { rateLevel } from '../deliverability/alerts';
import type { MessageJson } from '../delivery/message-log';
import { Channel, MessageStatus } from '../generated/prisma/enums';
import type { QueueSnapshot } from '../metrics/metrics';
import { SCRIPT, STYLESHEET } from './assets';
import { lineChart } from './charts';
import { html, type SafeHtml } from './html';
import { CHART_EVENT_TYPES, type HourlyOverview, type SmsDeliveryRow } from './overview';
import type { DeliverabilityRates, ProviderState, RateRow, SuppressionEntry, Thresholds } from './sources';

export type NavItem = 'messages' | 'overview' | 'suppressions' | 'webhooks' | 'queues';

export interface PageContext {
  csrf: string;
  retention: Pick<Config, 'RETENTION_DAYS' | 'BODY_RETENTION_DAYS'>;
  notice?: { text: string; error?: boolean };
}

const NAV: [NavItem, string, string][] = [
  ['messages', 'Messages', '/dashboard'],
  ['overview', 'Overview', '/dashboard/overview'],
  ['suppressions', 'Suppressions', '/dashboard/suppressions'],
  ['webhooks', 'Webhooks', '/dashboard/webhooks'],
  ['queues', 'Queues', '/dashboard/queues'],
];

function document(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · auth-relay</title>
<link rel="stylesheet" href="${STYLESHEET.path}">
<script src="${SCRIPT.path}" defer></script>
</head><body>${body}</body></html>`.value;
}

export function layout(ctx: PageContext, active: NavItem | null, title: string, content: SafeHtml): string {
  return document(
    title,
    html`<header class="top">
  <span class="brand">auth-relay</span>
  <nav>${NAV.map(([key, label, href]) => html`<a href="${href}" class="${key === active ? 'active' : ''}">${label}</a>`)}</nav>
  <form method="post" action="/dashboard/logout"><input type="hidden" name="_csrf" value="${ctx.csrf}"><button class="link" type="submit">Log out</button></form>
</header>
<main>
${ctx.notice ? html`<div class="notice ${ctx.notice.error ? 'error' : ''}" role="status">${ctx.notice.text}</div>` : null}
${content}
</main>
<footer>Messages, their timelines and the providers' delivery webhooks are kept ${ctx.retention.RETENTION_DAYS} days; message bodies (codes redacted) ${ctx.retention.BODY_RETENTION_DAYS} days. Codes themselves are dropped as soon as a message is sent, fails or expires.</footer>`,
  );
}

/** A bare page (login, errors) without navigation. */
export function barePage(title: string, content: SafeHtml): string {
  return document(title, html`<main class="login">${content}</main>`);
}

export function loginPage(opts: { csrf: string; next: string; error?: string }): string {
  return barePage(
    'Log in',
    html`<h1>auth-relay</h1>
<p class="muted">Log in with the <code>ADMIN_TOKEN</code> this instance was started with.</p>
${opts.error ? html`<div class="notice error" role="alert">${opts.error}</div>` : null}
<form method="post" action="/dashboard/login">
  <input type="hidden" name="_csrf" value="${opts.csrf}">
  <input type="hidden" name="next" value="${opts.next}">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  <button class="primary" type="submit">Log in</button>
</form>`,
  );
}

export function notConfiguredPage(): string {
  return barePage(
    'Not configured',
    html`<h1>Dashboard disabled</h1><p>Set <code>ADMIN_TOKEN</code> (16 characters or more) and restart auth-relay to use the dashboard and the admin API.</p>`,
  );
}

export function errorPage(status: number, message: string): string {
  return barePage(`Error ${status}`, html`<h1>${status}</h1><p>${message}</p><p><a href="/dashboard">Back to the dashboard</a></p>`);
}

// ---- formatting -------------------------------------------------------------------------------------------

export const statusBadge = (status: string): SafeHtml => html`<span class="badge st-${status}">${status}</span>`;

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = s / 60;
  if (m < 60) return `${Math.round(m)} min`;
  return `${(m / 60).toFixed(1)} h`;
}

export const age = (iso: string, now: Date): SafeHtml =>
  html`<time datetime="${iso}" data-age>${duration(Math.max(0, now.getTime() - Date.parse(iso)))} ago</time>`;

export const localTime = (iso: string): SafeHtml => html`<time datetime="${iso}" data-local>${iso.replace('T', ' ').replace('Z', ' UTC')}</time>`;

export function latency(m: MessageJson): string {
  return m.sent_at ? duration(Date.parse(m.sent_at) - Date.parse(m.created_at)) : '–';
}

const percent = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)} %`;

/** A rate's level as the alerts judge it: not at all below ALERT_MIN_SENDS (one bounce in three sends is noise). */
function level(value: number, t: { warn: number; page: number }, sent: number, minSends: number): 'ok' | 'warn' | 'page' | 'unknown' {
  if (sent === 0 || sent < minSends) return 'unknown';
  return rateLevel(value, t);
}

export const messageLink = (id: unknown): SafeHtml | string =>
  typeof id === 'string' && /^[A-Za-z0-9_-]+$/.test(id) ? html`<a class="mono" href="/dashboard/messages/${id}">${id}</a>` : String(id ?? '');

// ---- messages -----------------------------------------------------------------------------------------------

export interface MessageListView {
  query: Record<string, string>;
  rows: MessageJson[];
  nextHref: string | null;
  providers: string[];
  templates: string[];
  now: Date;
}

export const TIME_RANGES: Record<string, [string, number | null]> = {
  '1h': ['last hour', 1],
  '24h': ['last 24 h', 24],
  '7d': ['last 7 days', 24 * 7],
  all: ['all kept', null],
};

function select(name: string, label: string, current: string | undefined, options: [string, string][]): SafeHtml {
  return html`<label>${label}<select name="${name}">
    ${options.map(([value, text]) => html`<option value="${value}" ${value === (current ?? '') ? html`selected` : null}>${text}</option>`)}
  </select></label>`;
}

export function messagesPage(ctx: PageContext, v: MessageListView): string {
  const q = v.query;
  const any = (label: string): [string, string] => ['', label];
  const filters = html`<form class="filters" method="get" action="/dashboard" data-autosubmit role="search">
  <label class="search">Recipient, user id, Clerk id (ema_/sms_), provider message id or msg_ id
    <input type="search" name="q" value="${q.q ?? ''}" placeholder="name@example.com, +4477…, user_…, ema_…, msg_…" autocomplete="off"></label>
  ${select('status', 'Status', q.status, [any('any status'), ...Object.values(MessageStatus).map((s): [string, string] => [s, s])])}
  ${select('channel', 'Channel', q.channel, [any('any channel'), ...Object.values(Channel).map((c): [string, string] => [c, c])])}
  ${select('provider', 'Provider', q.provider, [any('any provider'), ...v.providers.map((p): [string, string] => [p, p])])}
  ${select('template', 'Template', q.template, [any('any template'), ...v.templates.map((t): [string, string] => [t, t])])}
  ${select('range', 'Time', q.range ?? 'all', Object.entries(TIME_RANGES).map(([k, [label]]): [string, string] => [k, label]))}
  <button type="submit" class="primary">Search</button>
</form>`;

  const rows = v.rows.map(
    (m) => html`<tr>
    <td>${statusBadge(m.status)}</td>
    <td><a href="/dashboard/messages/${m.id}">${m.recipient}</a>${m.last_error && ['failed', 'bounced', 'expired'].includes(m.status) ? html`<div class="small muted">${m.last_error}</div>` : null}</td>
    <td class="hide-narrow">${m.template ?? '–'}</td>
    <td class="hide-narrow">${m.provider ?? '–'}</td>
    <td class="nowrap">${age(m.created_at, v.now)}</td>
    <td class="num hide-narrow">${latency(m)}</td>
  </tr>`,
  );
  const table = v.rows.length
    ? html`<div class="table-wrap"><table>
      <thead><tr><th>Status</th><th>Recipient</th><th class="hide-narrow">Template</th><th class="hide-narrow">Provider</th><th>Age</th><th class="num hide-narrow">Accepted → sent</th></tr></thead>
      <tbody>${rows}</tbody></table></div>`
    : html`<p class="muted">No messages match.</p>`;
  return layout(
    ctx,
    'messages',
    'Messages',
    html`<h1>Messages</h1>${filters}${table}
<div class="pager">${v.nextHref ? html`<a href="${v.nextHref}" rel="next">Older →</a>` : null}</div>`,
  );
}

// ---- overview -----------------------------------------------------------------------------------------------

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
    if (p.circuit === 'open') return html`<span class="lvl-page">circuit open</span> <span class="small">(skipped; probe in ${p.open_until ? until(p.open_until, now) : '–'})</span>`;
    if (p.circuit === 'half_open') return html`<span class="lvl-warn">half-open</span> <span class="small">(next send is a probe)</span>`;
    if (p.paused_until) return html`<span class="lvl-warn">paused</span> <span class="small">(rate limited; ${until(p.paused_until, now)} left)</span>`;
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
    if (p.circuit === 'open') items.push(html`<b>${p.provider}</b>: circuit open after ${p.consecutive_failures} failures in a row; messages go to the next provider${p.open_until ? html`, next probe in ${until(p.open_until, v.now)}` : null}`);
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
        items.push(html`<span class="lvl-${lvl}">${what} rate ${percent(r[field], digits)}</span> for ${r.key} over ${v.rates.window_hours} h (${lvl === 'page' ? 'page' : 'warn'} threshold ${percent(threshold[lvl], digits)})`);
      }
    }
  }
  for (const q of v.queues) {
    if (q.oldestWaitingSeconds !== null && q.oldestWaitingSeconds > QUEUE_LAG_SECONDS) {
      items.push(html`<b>${q.name}</b> queue behind: ${q.counts.waiting ?? 0} waiting, the oldest for ${duration(q.oldestWaitingSeconds * 1000)}`);
    }
  }
  for (const status of ['failed', 'expired'] as const) {
    const since = runSince(v.hourly.counts[status], v.hourly.hours);
    if (since) items.push(html`<a href="/dashboard?status=${status}&amp;range=24h">${v.hourly.counts[status].at(-1)} ${status} this hour</a>, and some every hour since ${hourLabel(since)}`);
  }
  if (!items.length) return html`<div class="notice ok" role="status">Nothing needs attention: every provider is in use, rates are under their thresholds, queues are keeping up and nothing failed or expired this hour.</div>`;
  return html`<section class="card attention" role="alert"><h2>Needs attention</h2><ul>${items.map((i) => html`<li>${i}</li>`)}</ul></section>`;
}

export function overviewPage(ctx: PageContext, v: OverviewView): string {
  const labels = v.hourly.hours.map((h) => `${String(h.getUTCHours()).padStart(2, '0')}:00`);
  const t = v.rates.thresholds;
  const o = v.rates.overall;
  const tiles = Object.values(MessageStatus).map(
    (s) => html`<a class="tile" href="/dashboard?status=${s}&amp;range=24h"><div class="small">${statusBadge(s)}</div><div class="n">${v.hourly.statuses[s] ?? 0}</div></a>`,
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
${lineChart({ title: 'Accepted → sent', labels, unit: 's', series: [{ name: 'p50', cls: 'c-p50', values: v.hourly.acceptedToSent.p50 }, { name: 'p95', cls: 'c-p95', values: v.hourly.acceptedToSent.p95 }] })}
${lineChart({ title: 'Sent → delivered', labels, unit: 's', series: [{ name: 'p50', cls: 'c-p50', values: v.hourly.sentToDelivered.p50 }, { name: 'p95', cls: 'c-p95', values: v.hourly.sentToDelivered.p95 }] })}
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

// ---- suppressions -------------------------------------------------------------------------------------------

const SUPPRESSION_REASONS: Record<string, string> = {
  hard_bounce: 'hard bounce',
  complaint: 'complaint',
  provider_suppression: "on the provider's suppression list",
  manual: 'manual',
};
export const suppressionReasonLabel = (reason: string): string => SUPPRESSION_REASONS[reason] ?? reason.replace(/_/g, ' ');

/** The operator's note, or what the provider said (e.g. Resend's suppression type and message). */
function noteOf(s: SuppressionEntry): string | null {
  const d = (s.detail && typeof s.detail === 'object' ? s.detail : {}) as { note?: unknown; description?: unknown };
  return typeof d.note === 'string' ? d.note : typeof d.description === 'string' ? d.description : null;
}

export function suppressionsPage(ctx: PageContext, v: { search: string; rows: SuppressionEntry[]; limit: number }): string {
  const csrf = html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
  const rows = v.rows.map(
    (s) => html`<tr>
    <td><a href="/dashboard?q=${encodeURIComponent(s.recipient)}&amp;range=all">${s.recipient}</a></td>
    <td>${s.channel}</td><td>${suppressionReasonLabel(s.reason)}${noteOf(s) ? html`<div class="small muted">${noteOf(s)}</div>` : null}${s.source_message_id ? html`<div class="small">after ${messageLink(s.source_message_id)}</div>` : null}</td>
    <td class="nowrap hide-narrow">${localTime(s.created_at)}</td>
    <td class="nowrap hide-narrow">${s.expires_at ? localTime(s.expires_at) : 'until released'}</td>
    <td><form method="post" action="/dashboard/suppressions/release" data-confirm="Release ${s.recipient}?">${csrf}
      <input type="hidden" name="channel" value="${s.channel}"><input type="hidden" name="recipient" value="${s.recipient}">
      <button type="submit" class="danger" aria-label="Release ${s.recipient}">Release</button></form></td>
  </tr>`,
  );
  return layout(
    ctx,
    'suppressions',
    'Suppressions',
    html`<h1>Suppressions</h1>
<p class="muted">Nothing is sent to a suppressed recipient. Hard bounces, complaints and a provider's own suppression list (Resend <code>email.suppressed</code>) add them; release one when the address is fixed.</p>
<form class="filters" method="get" action="/dashboard/suppressions" role="search">
  <label class="search">Search recipients<input type="search" name="q" value="${v.search}"></label>
  <button type="submit">Search</button>
</form>
${v.rows.length ? html`<div class="table-wrap"><table>
  <thead><tr><th>Recipient</th><th>Channel</th><th>Reason</th><th class="hide-narrow">Since</th><th class="hide-narrow">Until</th><th></th></tr></thead>
  <tbody>${rows}</tbody></table></div>
  ${v.rows.length >= v.limit ? html`<p class="muted small">Showing the newest ${v.limit}; search to narrow.</p>` : null}` : html`<p class="muted">No suppressed recipients${v.search ? ' match' : ''}.</p>`}
<h2>Add</h2>
<form class="filters" method="post" action="/dashboard/suppressions">${csrf}
  <label class="search">Recipient (email or +phone)<input type="text" name="recipient" required></label>
  ${select('channel', 'Channel', 'email', Object.values(Channel).map((c): [string, string] => [c, c]))}
  <label>Reason<input type="text" name="reason" value="manual" required maxlength="100"></label>
  <button type="submit">Suppress</button>
</form>`,
  );
}
