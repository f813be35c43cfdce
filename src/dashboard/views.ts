import type { Config } from '../config/env';
import { rateLevel } from '../deliverability/alerts';
import type { EventJson, MessageJson } from '../delivery/message-log';
import { Channel, MessageStatus } from '../generated/prisma/enums';
import type { QueueSnapshot } from '../metrics/metrics';
import { SCRIPT, STYLESHEET } from './assets';
import { lineChart } from './charts';
import type { MessageDetail } from './detail';
import { html, type SafeHtml } from './html';
import { CHART_EVENT_TYPES, type HourlyOverview, type SmsDeliveryRow } from './overview';
import type { DeliverabilityRates, ProviderState, RateRow, SuppressionEntry, Thresholds } from './sources';

export type NavItem = 'messages' | 'overview' | 'suppressions' | 'queues';

export interface PageContext {
  csrf: string;
  retention: Pick<Config, 'RETENTION_DAYS' | 'BODY_RETENTION_DAYS'>;
  notice?: { text: string; error?: boolean };
}

const NAV: [NavItem, string, string][] = [
  ['messages', 'Messages', '/dashboard'],
  ['overview', 'Overview', '/dashboard/overview'],
  ['suppressions', 'Suppressions', '/dashboard/suppressions'],
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

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = s / 60;
  if (m < 60) return `${Math.round(m)} min`;
  return `${(m / 60).toFixed(1)} h`;
}

const age = (iso: string, now: Date): SafeHtml =>
  html`<time datetime="${iso}" data-age>${duration(Math.max(0, now.getTime() - Date.parse(iso)))} ago</time>`;

const localTime = (iso: string): SafeHtml => html`<time datetime="${iso}" data-local>${iso.replace('T', ' ').replace('Z', ' UTC')}</time>`;

function latency(m: MessageJson): string {
  return m.sent_at ? duration(Date.parse(m.sent_at) - Date.parse(m.created_at)) : '–';
}

const percent = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)} %`;

/** A rate's level as the alerts judge it: not at all below ALERT_MIN_SENDS (one bounce in three sends is noise). */
function level(value: number, t: { warn: number; page: number }, sent: number, minSends: number): 'ok' | 'warn' | 'page' | 'unknown' {
  if (sent === 0 || sent < minSends) return 'unknown';
  return rateLevel(value, t);
}

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

// ---- message detail ---------------------------------------------------------------------------------------

const json = (value: unknown): string => JSON.stringify(value, null, 2);

const EVENT_LABELS: Record<string, string> = {
  send_failed: 'send failed',
  provider_skipped: 'provider skipped',
  clerk_writeback: 'Clerk write-back',
};

const SKIP_REASONS: Record<string, string> = {
  circuit_open: 'its circuit is open after repeated failures',
  paused: 'it asked us to slow down (rate limit)',
  saturated: 'no send slot free under its rate limit',
};

const CLERK_OUTCOMES: Record<string, string> = {
  updated: 'user metadata updated',
  skipped: 'skipped',
  user_not_found: 'no Clerk user has this address',
  rejected: 'Clerk rejected it',
  gave_up: 'gave up after repeated errors',
  superseded: 'not sent: the suppression list changed since',
};

const text = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));
const messageLink = (id: unknown): SafeHtml | string =>
  typeof id === 'string' && /^[A-Za-z0-9_-]+$/.test(id) ? html`<a class="mono" href="/dashboard/messages/${id}">${id}</a>` : String(id ?? '');

/** One line saying what an event means, so the timeline reads without opening its JSON. */
export function eventSummary(e: EventJson): SafeHtml | null {
  const d = (e.detail && typeof e.detail === 'object' ? e.detail : {}) as Record<string, unknown>;
  const provider = e.provider ?? text(d.provider) ?? 'the provider';
  switch (e.type) {
    case 'received':
      return d.fallback_for ? html`Accepted as the fallback for ${messageLink(d.fallback_for)}` : html`Accepted`;
    case 'queued':
      return html`Queued for sending`;
    case 'sent':
      return html`Accepted by ${provider}${text(d.provider_message_id) ? html` as <span class="mono">${text(d.provider_message_id)}</span>` : null}`;
    case 'send_failed': {
      const answer = [text(d.status), text(d.code)].filter(Boolean).join(' ');
      return html`<span class="lvl-warn">${text(d.class) ?? 'error'}</span> error from ${provider}${answer ? ` (${answer})` : ''}: ${text(d.message) ?? 'no message'}`;
    }
    case 'failover':
      return html`Failing over from ${text(d.from) ?? '?'} to ${provider}`;
    case 'provider_skipped':
      return html`${provider} skipped: ${SKIP_REASONS[String(d.reason)] ?? text(d.reason) ?? '?'}${typeof d.retry_in_ms === 'number' ? `; free again in ${duration(d.retry_in_ms)}` : ''}`;
    case 'fallback':
      return html`Could not be delivered here; sent by ${text(d.channel) ?? 'the fallback channel'} as ${messageLink(d.message_id)}`;
    case 'retried':
      return html`Retried by an admin (was ${text(d.previous_status) ?? '?'})`;
    case 'suppressed':
      return html`Not sent: the recipient is suppressed (${text(d.suppression_reason) ?? text(d.reason) ?? '?'})${d.source_message_id ? html`, after ${messageLink(d.source_message_id)}` : null}${d.expires_at ? html` until ${localTime(String(d.expires_at))}` : null}`;
    case 'failed':
    case 'expired':
      return text(d.reason) ? html`${text(d.reason)}` : text(d.description) ? html`${text(d.description)}` : null;
    case 'bounced': {
      const kind = [text(d.bounce_kind), text(d.bounce_type), text(d.bounce_sub_type)].filter(Boolean).join(' / ');
      return html`${kind ? `${kind} bounce` : 'Bounced'} reported by ${provider}${text(d.diagnostic) ? `: ${text(d.diagnostic)}` : ''}`;
    }
    case 'delivered':
    case 'complained':
    case 'delayed':
      return html`Reported by ${provider}${text(d.provider_type) ? html` (<span class="mono">${text(d.provider_type)}</span>)` : null}${text(d.description) ? `: ${text(d.description)}` : ''}`;
    case 'clerk_writeback': {
      const outcome = String(d.outcome ?? '');
      const status = text(d.email_status) ? `email_status = ${text(d.email_status)}` : 'metadata';
      const why = [text(d.status) && `HTTP ${text(d.status)}`, text(d.error) ?? text(d.reason)].filter(Boolean).join(': ');
      const ok = outcome === 'updated';
      return html`Clerk ${status}: <span class="${ok ? 'lvl-ok' : outcome === 'skipped' ? 'muted' : 'lvl-warn'}">${CLERK_OUTCOMES[outcome] ?? (outcome || '?')}</span>${Array.isArray(d.user_ids) ? ` (${d.user_ids.join(', ')})` : ''}${why ? ` — ${why}` : ''}`;
    }
    default:
      return null;
  }
}

/** Events whose raw provider answer is what the reader came for: shown unfolded. */
const RAW_SHOWN = new Set(['send_failed', 'bounced', 'complained']);

function timeline(events: EventJson[]): SafeHtml {
  const start = events[0] ? Date.parse(events[0].occurred_at) : 0;
  return html`<div class="table-wrap"><table class="timeline">
  <thead><tr><th>When</th><th class="num">+</th><th>Event</th><th>What happened</th></tr></thead>
  <tbody>${events.map((e) => {
    const hasDetail = e.detail && Object.keys(e.detail as object).length > 0;
    return html`<tr>
    <td class="nowrap">${localTime(e.occurred_at)}</td>
    <td class="num">${duration(Date.parse(e.occurred_at) - start)}</td>
    <td class="nowrap">${html`<span class="badge st-${e.type}">${EVENT_LABELS[e.type] ?? e.type}</span>`}${e.provider ? html`<div class="small muted">${e.provider}</div>` : null}</td>
    <td>${eventSummary(e)}${hasDetail ? html`<details class="small" ${RAW_SHOWN.has(e.type) ? html`open` : null}><summary class="muted">raw</summary><pre>${json(e.detail)}</pre></details>` : null}</td>
  </tr>`;
  })}</tbody></table></div>`;
}

function content(d: MessageDetail): SafeHtml {
  if (d.outbox) {
    return html`<p class="muted small">Stored in full by the development <code>outbox</code> provider.</p>
<dl class="facts"><dt>From</dt><dd>${d.outbox.from ?? '–'}</dd><dt>To</dt><dd>${d.outbox.to}</dd><dt>Subject</dt><dd>${d.outbox.subject ?? '–'}</dd></dl>
${d.outbox.text ? html`<h2>Text</h2><pre>${d.outbox.text}</pre>` : null}
${d.outbox.html ? html`<details><summary>HTML source</summary><pre>${d.outbox.html}</pre></details>` : null}`;
  }
  if (d.redacted === null) return html`<p class="muted">The body is no longer kept (older than the body retention).</p>`;
  const r = d.redacted as { channel: string; subject?: string; text?: string; html?: string; body?: string };
  if (r.channel === 'sms') return html`<pre>${r.body ?? ''}</pre>`;
  return html`<dl class="facts"><dt>Subject</dt><dd>${r.subject ?? '–'}</dd></dl>
${r.text ? html`<h2>Text</h2><pre>${r.text}</pre>` : null}
${r.html ? html`<details><summary>HTML source</summary><pre>${r.html}</pre></details>` : null}`;
}

export function messageDetailPage(ctx: PageContext, d: MessageDetail, suppressed: SuppressionEntry | null, now: Date): string {
  const m = d.message;
  const csrf = html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
  const retry = d.retryRefusal
    ? html`<span class="muted small">Retry: ${d.retryRefusal}</span>`
    : html`<form method="post" action="/dashboard/messages/${m.id}/retry" data-confirm="Send this message again now?">${csrf}<button class="primary" type="submit">Retry now</button></form>`;
  const suppression = suppressed
    ? html`<form method="post" action="/dashboard/suppressions/release" data-confirm="Release this recipient?">${csrf}
        <input type="hidden" name="channel" value="${m.channel}"><input type="hidden" name="recipient" value="${m.recipient}">
        <input type="hidden" name="back" value="/dashboard/messages/${m.id}">
        <button class="danger" type="submit">Release recipient (suppressed: ${suppressed.reason})</button></form>`
    : html`<form method="post" action="/dashboard/suppressions" data-confirm="Stop sending to this recipient?">${csrf}
        <input type="hidden" name="channel" value="${m.channel}"><input type="hidden" name="recipient" value="${m.recipient}">
        <input type="hidden" name="reason" value="manual"><input type="hidden" name="source_message_id" value="${m.id}">
        <input type="hidden" name="back" value="/dashboard/messages/${m.id}">
        <button type="submit">Suppress recipient</button></form>`;
  const facts: [string, SafeHtml | string][] = [
    ['Status', statusBadge(m.status)],
    ['Recipient', html`<a href="/dashboard?q=${encodeURIComponent(m.recipient)}&amp;range=all">${m.recipient}</a>`],
    ['Channel', m.channel],
    ['Template', m.template ?? '–'],
    ['Source', `${m.source}${m.external_id ? ` · ${m.external_id}` : ''}`],
    ['User', m.user_id ? html`<a href="/dashboard?q=${encodeURIComponent(m.user_id)}&amp;range=all">${m.user_id}</a>` : '–'],
    ['Provider', m.provider ? `${m.provider}${m.provider_message_id ? ` · ${m.provider_message_id}` : ''}` : '–'],
    ['Attempts', String(m.attempts)],
    ['Accepted', html`${localTime(m.created_at)} (${age(m.created_at, now)})`],
    ['Sent', m.sent_at ? html`${localTime(m.sent_at)} (+${latency(m)})` : '–'],
    ['Delivered', m.delivered_at ? html`${localTime(m.delivered_at)}${m.sent_at ? ` (+${duration(Date.parse(m.delivered_at) - Date.parse(m.sent_at))} after sent)` : ''}` : '–'],
    ['Last error', m.last_error ?? '–'],
  ];
  return layout(
    ctx,
    'messages',
    m.id,
    html`<h1 class="mono">${m.id}</h1>
<div class="grid">
  <section class="card"><dl class="facts">${facts.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></section>
  <section class="card"><h2>Actions</h2><div class="actions">${retry}${suppression}</div></section>
</div>
<h2>Timeline</h2>${timeline(d.events)}
<h2>Headers we sent</h2>${d.headers ? html`<pre>${json(d.headers)}</pre>` : html`<p class="muted">None recorded (not sent yet, or not an email).</p>`}
<h2>Content ${d.outbox ? null : html`<span class="muted small">(codes redacted)</span>`}</h2>${content(d)}`,
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

function rateTable(title: string, rows: RateRow[], t: Thresholds): SafeHtml {
  if (!rows.length) return html`<section class="card"><h2>${title}</h2><p class="muted">Nothing sent by email in the window.</p></section>`;
  return html`<section class="card"><h2>${title}</h2><div class="table-wrap"><table>
  <thead><tr><th></th><th class="num">Sent</th><th class="num">Bounce rate</th><th class="num">Complaint rate</th></tr></thead>
  <tbody>${rows.map(
    (r) => html`<tr><td>${r.key}</td><td class="num">${r.sent}</td>
      <td class="num lvl-${level(r.bounce_rate, t.bounce, r.sent, t.minSends)}">${percent(r.bounce_rate)} <span class="small">(${r.bounced})</span></td>
      <td class="num lvl-${level(r.complaint_rate, t.complaint, r.sent, t.minSends)}">${percent(r.complaint_rate, 3)} <span class="small">(${r.complained})</span></td></tr>`,
  )}</tbody></table></div></section>`;
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
     · <span class="muted">${o.sent} sent</span></p>
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

const noteOf = (s: SuppressionEntry): string | null =>
  s.detail && typeof s.detail === 'object' && typeof (s.detail as { note?: unknown }).note === 'string' ? (s.detail as { note: string }).note : null;

export function suppressionsPage(ctx: PageContext, v: { search: string; rows: SuppressionEntry[]; limit: number }): string {
  const csrf = html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
  const rows = v.rows.map(
    (s) => html`<tr>
    <td><a href="/dashboard?q=${encodeURIComponent(s.recipient)}&amp;range=all">${s.recipient}</a></td>
    <td>${s.channel}</td><td>${s.reason.replace('_', ' ')}${noteOf(s) ? html`<div class="small muted">${noteOf(s)}</div>` : null}${s.source_message_id ? html`<div class="small">after ${messageLink(s.source_message_id)}</div>` : null}</td>
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
<p class="muted">Nothing is sent to a suppressed recipient. Hard bounces and complaints add them; release one when the address is fixed.</p>
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
