import { Channel } from '../generated/prisma/enums';
import { html } from './html';
import { layout, localTime, messageLink, select, suppressionReasonLabel, type PageContext } from './layout';
import type { SuppressionEntry } from './sources';

/** The suppression list: search, release, add. */

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
${
  v.rows.length
    ? html`<div class="table-wrap"><table>
  <thead><tr><th>Recipient</th><th>Channel</th><th>Reason</th><th class="hide-narrow">Since</th><th class="hide-narrow">Until</th><th></th></tr></thead>
  <tbody>${rows}</tbody></table></div>
  ${v.rows.length >= v.limit ? html`<p class="muted small">Showing the newest ${v.limit}; search to narrow.</p>` : null}`
    : html`<p class="muted">No suppressed recipients${v.search ? ' match' : ''}.</p>`
}
<h2>Add</h2>
<form class="filters" method="post" action="/dashboard/suppressions">${csrf}
  <label class="search">Recipient (email or +phone)<input type="text" name="recipient" required></label>
  ${select(
    'channel',
    'Channel',
    'email',
    Object.values(Channel).map((c): [string, string] => [c, c]),
  )}
  <label>Reason<input type="text" name="reason" value="manual" required maxlength="100"></label>
  <button type="submit">Suppress</button>
</form>`,
  );
}
