import type { Config } from '../config/env';
import { rateLevel } from '../deliverability/alerts';
import type { MessageJson } from '../delivery/message-log';
import { SCRIPT, STYLESHEET } from './assets';
import { html, type SafeHtml } from './html';

/** The frame every dashboard page shares (navigation, notice, footer), the bare pages, and the formatting pages share. */

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

export const localTime = (iso: string): SafeHtml =>
  html`<time datetime="${iso}" data-local>${iso.replace('T', ' ').replace('Z', ' UTC')}</time>`;

export function latency(m: MessageJson): string {
  return m.sent_at ? duration(Date.parse(m.sent_at) - Date.parse(m.created_at)) : '–';
}

export const percent = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)} %`;

/** A rate's level as the alerts judge it: not at all below ALERT_MIN_SENDS (one bounce in three sends is noise). */
export function level(
  value: number,
  t: { warn: number; page: number },
  sent: number,
  minSends: number,
): 'ok' | 'warn' | 'page' | 'unknown' {
  if (sent === 0 || sent < minSends) return 'unknown';
  return rateLevel(value, t);
}

export const messageLink = (id: unknown): SafeHtml | string =>
  typeof id === 'string' && /^[A-Za-z0-9_-]+$/.test(id)
    ? html`<a class="mono" href="/dashboard/messages/${id}">${id}</a>`
    : String(id ?? '');

const SUPPRESSION_REASONS: Record<string, string> = {
  hard_bounce: 'hard bounce',
  complaint: 'complaint',
  provider_suppression: "on the provider's suppression list",
  manual: 'manual',
};
export const suppressionReasonLabel = (reason: string): string => SUPPRESSION_REASONS[reason] ?? reason.replace(/_/g, ' ');

export function select(name: string, label: string, current: string | undefined, options: [string, string][]): SafeHtml {
  return html`<label>${label}<select name="${name}">
    ${options.map(([value, text]) => html`<option value="${value}" ${value === (current ?? '') ? html`selected` : null}>${text}</option>`)}
  </select></label>`;
}
