import type { ScopeStatsJson, StatsJson } from '../../src/deliverability/stats';
import { ms, STATUS_COLOURS, time, type Cli } from './cli';

const pct = (v: number | null, digits: number): string => (v === null ? '-' : `${(v * 100).toFixed(digits)}%`);

/** `relay stats [--window 24h]`: counts, rates and latency, overall, per provider and per domain. */
export async function stats(cli: Cli): Promise<void> {
  const s = await cli.api<StatsJson>('GET', `/api/stats?window=${encodeURIComponent(cli.opts.window)}`);
  if (cli.opts.json) return cli.json(s);
  const { out } = cli;
  out(`window ${s.window}  (${time(s.since)} to ${time(s.until)})`);
  out();
  const counts = Object.entries(s.counts).filter(([, n]) => n > 0);
  out(
    `messages  ${s.total}${counts.length ? `  (${counts.map(([status, n]) => `${cli.paint(STATUS_COLOURS[status], status)} ${n}`).join(', ')})` : ''}`,
  );
  const r = s.rates.window;
  const last = s.rates.last_1000_sends;
  out(
    `email sent ${r.sent}: bounce rate ${pct(r.bounce_rate, 2)} (${r.hard_bounces} hard), complaint rate ${pct(r.complaint_rate, 3)} (${r.complaints})`,
  );
  out(`last ${last.sent} email sends: bounce rate ${pct(last.bounce_rate, 2)}, complaint rate ${pct(last.complaint_rate, 3)}`);
  out(
    `latency   accepted→sent p50 ${ms(s.latency.accepted_to_sent.p50_ms)} p95 ${ms(s.latency.accepted_to_sent.p95_ms)}; ` +
      `sent→delivered p50 ${ms(s.latency.sent_to_delivered.p50_ms)} p95 ${ms(s.latency.sent_to_delivered.p95_ms)}`,
  );
  const scopeRows = (rows: (ScopeStatsJson & { name: string })[]) =>
    rows.map((p) => [
      p.name,
      String(p.total),
      String(p.counts.delivered ?? 0),
      String(p.counts.failed ?? 0),
      String(p.counts.expired ?? 0),
      String(p.rates.window.sent),
      pct(p.rates.window.bounce_rate, 2),
      pct(p.rates.window.complaint_rate, 3),
      ms(p.latency.accepted_to_sent.p95_ms),
      ms(p.latency.sent_to_delivered.p95_ms),
    ]);
  // Failed (every provider refused) and expired (the code was too old to send: a backlog) point to different fixes.
  const columns = ['TOTAL', 'DELIVERED', 'FAILED', 'EXPIRED', 'EMAIL SENT', 'BOUNCE', 'COMPLAINT', 'TO SENT P95', 'TO DELIVERED P95'];
  out();
  if (s.providers.length) cli.table(['PROVIDER', ...columns], scopeRows(s.providers.map((p) => ({ ...p, name: p.provider }))));
  else out('no messages went to a provider in this window');
  if (s.recipient_domains.length) {
    out();
    cli.table(['DOMAIN', ...columns], scopeRows(s.recipient_domains.map((d) => ({ ...d, name: d.domain }))));
  }
}
