import type { EventJson } from '../delivery/message-log';
import type { MessageDetail } from './detail';
import { html, type SafeHtml } from './html';
import type { SuppressionEntry } from './sources';
import { age, duration, latency, layout, localTime, messageLink, statusBadge, suppressionReasonLabel, type PageContext } from './layout';

/** The message page: its facts, actions, timeline, headers and content. */

const json = (value: unknown): string => JSON.stringify(value, null, 2);

const EVENT_LABELS: Record<string, string> = {
  send_failed: 'send failed',
  provider_skipped: 'provider skipped',
  clerk_writeback: 'Clerk write-back',
  delivery_delayed: 'delayed',
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

type Detail = Record<string, unknown>;

const text = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));
const detailOf = (e: EventJson): Detail => (e.detail && typeof e.detail === 'object' ? e.detail : {}) as Detail;
/** Types only a provider's webhook reports; `sent`, `failed` and `suppressed` are also ours. */
const REPORTED_ONLY = new Set(['delivered', 'delivery_delayed', 'bounced', 'complained', 'opened', 'clicked']);
/** An event a provider's webhook reported (it carries the provider's event type), as opposed to one of ours. */
const reported = (e: EventJson, d: Detail): boolean => typeof d.provider_type === 'string' || REPORTED_ONLY.has(e.type);
const providerType = (d: Detail): SafeHtml | null =>
  text(d.provider_type) ? html`<span class="mono">${text(d.provider_type)}</span>` : null;
/** "(reported by resend, email.delivered)": who said so. */
const reportedBy = (provider: string, d: Detail): SafeHtml =>
  html`<span class="muted">(reported by ${provider}${providerType(d) ? html`, ${providerType(d)}` : null})</span>`;
const colon = (v: unknown): string => (text(v) ? `: ${text(v)}` : '');

/** The badge: the provider's own "sent" webhook confirms our send, it is not a second one. */
export const eventLabel = (e: EventJson): string =>
  e.type === 'sent' && reported(e, detailOf(e)) ? 'confirmed' : (EVENT_LABELS[e.type] ?? e.type);

/** What the event says, for the events a provider reports (webhooks). */
function providerSummary(e: EventJson, d: Detail, provider: string): SafeHtml {
  const by = reportedBy(provider, d);
  switch (e.type) {
    case 'sent':
      return html`${provider} confirms it accepted the message, as we recorded when we sent it; nothing was sent twice ${by}`;
    case 'delivered':
      return html`Delivered: the recipient's mail server accepted it ${by}`;
    case 'delivery_delayed':
      return html`Delayed: the recipient's server has not accepted it yet; ${provider} keeps trying${colon(d.description ?? d.diagnostic)} ${by}`;
    case 'bounced': {
      const kind = [text(d.bounce_kind), text(d.bounce_type), text(d.bounce_sub_type)].filter(Boolean).join(' / ');
      return html`${kind ? `${kind} bounce` : 'Bounced'} reported by ${provider}${colon(d.diagnostic)}`;
    }
    case 'complained':
      return html`The recipient marked it as spam ${by}`;
    case 'failed':
      return html`Not sent: ${provider} could not send it${colon(d.reason)} ${by}`;
    case 'suppressed': {
      const kind = text(d.suppression_type) ?? text(d.reason);
      return html`Not sent: the address is on ${provider}'s suppression list${kind ? ` (${kind})` : ''}${colon(d.message)} ${by}`;
    }
    case 'opened':
      return html`Opened by the recipient ${by}`;
    case 'clicked':
      return html`A link in it was clicked ${by}`;
    default:
      return html`${e.type} ${by}`;
  }
}

/** What the event says, for the events we record ourselves. */
function ownSummary(e: EventJson, d: Detail, provider: string): SafeHtml | null {
  switch (e.type) {
    case 'received':
      return d.fallback_for ? html`Accepted as the fallback for ${messageLink(d.fallback_for)}` : html`Accepted`;
    case 'queued':
      return html`Queued for sending`;
    case 'sent':
      return html`Sent: accepted by ${provider}${text(d.provider_message_id) ? html` as <span class="mono">${text(d.provider_message_id)}</span>` : null}`;
    case 'send_failed': {
      const answer = [text(d.status), text(d.code)].filter(Boolean).join(' ');
      // One event stands for a run of the same failure on a last-resort provider (delivery/send-records.ts).
      const times =
        typeof d.count === 'number' && d.count > 1 && text(d.first_at) && text(d.last_at)
          ? html`, ${d.count} times between ${localTime(String(d.first_at))} and ${localTime(String(d.last_at))}`
          : null;
      return html`<span class="lvl-warn">${text(d.class) ?? 'error'}</span> error from ${provider}${answer ? ` (${answer})` : ''}${times}: ${text(d.message) ?? 'no message'}`;
    }
    case 'failover':
      // The provider left behind got no answer to its last try: it may still deliver, so the user may get two.
      return html`Failing over from ${text(d.from) ?? '?'} to ${provider}${d.duplicate_possible === true ? html`; <span class="lvl-warn">a duplicate is possible</span> (${text(d.from) ?? '?'} may have sent it)` : null}`;
    case 'provider_skipped': {
      // One event stands for a run of skips (delivery/skip-log.ts): say how many, and over what time.
      const times =
        typeof d.count === 'number' && d.count > 1 && text(d.first_at) && text(d.last_at)
          ? html` ${d.count} times between ${localTime(String(d.first_at))} and ${localTime(String(d.last_at))}`
          : null;
      return html`${provider} skipped${times}: ${SKIP_REASONS[String(d.reason)] ?? text(d.reason) ?? '?'}${typeof d.retry_in_ms === 'number' ? `; free again in ${duration(d.retry_in_ms)}` : ''}`;
    }
    case 'fallback':
      return html`Could not be delivered here; sent by ${text(d.channel) ?? 'the fallback channel'} as ${messageLink(d.message_id)}`;
    case 'retried':
      return html`Retried by an admin (was ${text(d.previous_status) ?? '?'})`;
    case 'suppressed':
      return html`Not sent: the recipient is suppressed (${suppressionReasonLabel(text(d.suppression_reason) ?? 'unknown reason')})${d.source_message_id ? html`, after ${messageLink(d.source_message_id)}` : null}${d.expires_at ? html` until ${localTime(String(d.expires_at))}` : null}`;
    case 'failed':
      return html`Failed: ${text(d.reason) ?? text(d.description) ?? 'no reason recorded'}`;
    case 'expired':
      return html`Expired: ${text(d.reason) ?? 'the code was too old to send'}`;
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

/** One line saying what an event means, so the timeline reads without opening its JSON. */
export function eventSummary(e: EventJson): SafeHtml {
  const d = detailOf(e);
  const provider = e.provider ?? text(d.provider) ?? 'the provider';
  const summary =
    (reported(e, d) ? providerSummary(e, d, provider) : ownSummary(e, d, provider)) ?? html`${EVENT_LABELS[e.type] ?? e.type}`;
  const notes = [
    text(d.provider_time)
      ? html`<span class="lvl-warn">${provider} dated it ${localTime(String(d.provider_time))}, before the message was ${text(d.provider_time_before) ?? 'sent'}</span>; shown at our time instead`
      : null,
    text(d.not_applied) ? html`<span class="lvl-warn">Not applied</span>: ${text(d.not_applied)}` : null,
  ].filter((n) => n !== null);
  return notes.length ? html`${summary}${notes.map((n) => html`<div class="small">${n}</div>`)}` : summary;
}

/** Events whose raw provider answer is what the reader came for: shown unfolded. */
const RAW_SHOWN = new Set(['send_failed', 'bounced', 'complained']);

/** On a phone each row stacks: time and event on one line, what happened under it (see the stylesheet). */
function timeline(events: EventJson[]): SafeHtml {
  const start = events[0] ? Date.parse(events[0].occurred_at) : 0;
  return html`<div class="table-wrap"><table class="timeline">
  <thead><tr><th>When</th><th class="num">+</th><th>Event</th><th>What happened</th></tr></thead>
  <tbody>${events.map((e) => {
    const hasDetail = e.detail && Object.keys(e.detail as object).length > 0;
    return html`<tr>
    <td class="nowrap when">${localTime(e.occurred_at)}</td>
    <td class="num since">+${duration(Math.max(0, Date.parse(e.occurred_at) - start))}</td>
    <td class="nowrap event">${html`<span class="badge st-${e.type}">${eventLabel(e)}</span>`}${e.provider ? html` <span class="small muted">${e.provider}</span>` : null}</td>
    <td class="what">${eventSummary(e)}${hasDetail ? html`<details class="small" ${RAW_SHOWN.has(e.type) ? html`open` : null}><summary class="muted">raw</summary><pre>${json(e.detail)}</pre></details>` : null}</td>
  </tr>`;
  })}</tbody></table></div>`;
}

/** "+1.2 s after sent", or a warning when the provider's time precedes the send (never a negative latency). */
function afterSent(deliveredAt: string, sentAt: string | null): SafeHtml | string {
  if (!sentAt) return '';
  const ms = Date.parse(deliveredAt) - Date.parse(sentAt);
  return ms >= 0 ? ` (+${duration(ms)} after sent)` : html` <span class="lvl-warn">(the provider's time is before the send)</span>`;
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
        <button class="danger" type="submit">Release recipient (suppressed: ${suppressionReasonLabel(suppressed.reason)})</button></form>`
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
    ['Delivered', m.delivered_at ? html`${localTime(m.delivered_at)}${afterSent(m.delivered_at, m.sent_at)}` : '–'],
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
