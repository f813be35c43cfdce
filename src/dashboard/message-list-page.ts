import type { MessageJson } from '../delivery/message-log';
import { Channel, MessageStatus } from '../generated/prisma/enums';
import { html } from './html';
import { age, latency, layout, select, statusBadge, type PageContext } from './layout';

/** The message list: the search box, the filters and a page of the log, newest first. */

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
  ${select(
    'range',
    'Time',
    q.range ?? 'all',
    Object.entries(TIME_RANGES).map(([k, [label]]): [string, string] => [k, label]),
  )}
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
