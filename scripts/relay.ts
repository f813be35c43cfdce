/**
 * `relay`: the on-call delivery log from a terminal. A thin client of auth-relay's admin JSON API.
 *
 *   npm run relay -- tail --status failed          (or, in the container: node dist/scripts/relay.js tail)
 *
 * RELAY_URL (default http://127.0.0.1:$PORT, or :3000) and ADMIN_TOKEN come from the environment.
 */
import { parseArgs } from 'node:util';
import type { ScopeStatsJson, StatsJson } from '../src/deliverability/stats';
import type { SuppressionJson } from '../src/deliverability/suppressions';
import type { EventJson, MessageJson } from '../src/delivery/message-log';

export interface RelayIo {
  env: Record<string, string | undefined>;
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown };
  /** Stops `tail`. */
  signal?: AbortSignal;
}

const USAGE = `usage: relay <command> [options]

commands:
  tail [filters] [--lines N] [--interval S]   follow the delivery log live (new messages and status changes)
  show <message id>                          one message with its timeline
  stats [--window 24h]                       counts, rates and latency (GET /api/stats)
  suppressions list [--search TEXT] [--channel email|sms] [--lines N] [--cursor C]
                                             suppressed recipients, newest first
  suppressions add <recipient> [--channel email|sms] [--reason TEXT]
  suppressions release <recipient> [--channel email|sms]
  retry <message id>                         send a failed or expired message again

filters (tail): -q/--search TEXT (recipient, user id, ema_/sms_ id, provider id, msg_ id), --status,
  --channel, --provider, --template, --recipient, --user-id
options: --json (one JSON document, or one JSON line per message for tail)
environment: RELAY_URL (default http://127.0.0.1:$PORT, PORT defaulting to 3000), ADMIN_TOKEN
`;

class CliError extends Error {}

/** The API's suppression shape; the CLI also reads the note an operator left when adding one. */
type Suppression = SuppressionJson & { detail: { note?: string } | null };

const STATUS_COLOURS: Record<string, number> = {
  queued: 34, sending: 34, sent: 35, delivered: 32, delayed: 33,
  bounced: 31, complained: 31, failed: 31, suppressed: 90, expired: 90,
};

/** The API's shapes (src/delivery/message-log.ts): the CLI is a client of the same JSON. */
type Message = MessageJson & { events?: EventJson[] };

function ms(v: number | null): string {
  if (v === null) return '-';
  return v < 1000 ? `${v}ms` : `${(v / 1000).toFixed(1)}s`;
}

const latency = (m: Message): string => (m.sent_at ? ms(Date.parse(m.sent_at) - Date.parse(m.created_at)) : '-');

const time = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

const messageRow = (m: Message): string[] => [
  time(m.created_at), m.status, m.channel, m.recipient, m.template ?? '-', m.provider ?? '-', latency(m), m.id,
];
const MESSAGE_HEADER = ['CREATED', 'STATUS', 'CHANNEL', 'RECIPIENT', 'TEMPLATE', 'PROVIDER', 'TO SENT', 'ID'];

export async function runRelay(argv: string[], io: RelayIo): Promise<number> {
  const colour = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
  const out = (line = ''): void => void io.stdout.write(`${line}\n`);
  const paint = (code: number | undefined, text: string): string => (colour && code ? `\x1b[${code}m${text}\x1b[0m` : text);

  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        search: { type: 'string', short: 'q' },
        status: { type: 'string' },
        channel: { type: 'string' },
        provider: { type: 'string' },
        template: { type: 'string' },
        recipient: { type: 'string' },
        'user-id': { type: 'string' },
        lines: { type: 'string', default: '20' },
        interval: { type: 'string', default: '2' },
        window: { type: 'string', default: '24h' },
        reason: { type: 'string' },
        cursor: { type: 'string' },
      },
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: opts, positionals } = parsed;
  const [command, ...args] = positionals;
  if (opts.help || !command || command === 'help') {
    io.stdout.write(USAGE);
    return command || opts.help ? 0 : 2;
  }

  // In the container PORT is the server's own port, so the default finds it there too.
  const baseUrl = (io.env.RELAY_URL ?? `http://127.0.0.1:${io.env.PORT ?? 3000}`).replace(/\/+$/, '');
  const token = io.env.ADMIN_TOKEN;

  /** The server's clock (whole seconds, from its Date header) at its last answer. */
  let serverTime = 0;

  async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!token) throw new CliError('Set ADMIN_TOKEN to the token auth-relay was started with.');
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: io.signal,
      });
    } catch (err) {
      if (io.signal?.aborted) throw err;
      throw new CliError(`Cannot reach auth-relay at ${baseUrl} (${(err as Error).cause ?? (err as Error).message}); set RELAY_URL.`);
    }
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      throw new CliError(`${method} ${path}: answered ${res.status} with something that is not JSON`);
    }
    if (!res.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
      throw new CliError(`${method} ${path}: ${res.status} ${error?.code ?? ''}${error?.message ? `: ${error.message}` : ''}`.trim());
    }
    serverTime = Date.parse(res.headers.get('date') ?? '') || Date.now();
    // Subjects, provider errors and event details are other people's text: on a terminal, their escape
    // sequences would be obeyed. JSON output escapes them already.
    return (opts.json ? data : withoutControlCharacters(data)) as T;
  }

  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

  const filters = (): URLSearchParams => {
    const q = new URLSearchParams();
    const set = (key: string, value: string | undefined) => value && q.set(key, value);
    set('q', opts.search);
    set('status', opts.status);
    set('channel', opts.channel);
    set('provider', opts.provider);
    set('template', opts.template);
    set('recipient', opts.recipient);
    set('user_id', opts['user-id']);
    return q;
  };

  try {
    switch (command) {
      case 'tail':
        await tail();
        return 0;
      case 'show': {
        const id = required(args[0], 'show <message id>');
        const m = await api<Message>('GET', `/api/messages/${encodeURIComponent(id)}`);
        if (opts.json) json(m);
        else showMessage(m);
        return 0;
      }
      case 'retry': {
        const id = required(args[0], 'retry <message id>');
        const result = await api<{ id: string; status: string }>('POST', `/api/messages/${encodeURIComponent(id)}/retry`);
        if (opts.json) json(result);
        else out(`${result.id} ${paint(STATUS_COLOURS[result.status], result.status)}: queued again`);
        return 0;
      }
      case 'stats': {
        const stats = await api<StatsJson>('GET', `/api/stats?window=${encodeURIComponent(opts.window)}`);
        if (opts.json) json(stats);
        else showStats(stats);
        return 0;
      }
      case 'suppressions':
        await suppressions(args);
        return 0;
      default:
        throw new CliError(`unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (err) {
    if (io.signal?.aborted) return 0;
    if (err instanceof CliError) {
      io.stderr.write(`relay: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  function required(value: string | undefined, usage: string): string {
    if (!value) throw new CliError(`usage: relay ${usage}`);
    return value;
  }

  // ---- output -------------------------------------------------------------------------------------------

  /** Columns padded to their widest cell; the last column is not padded. */
  function table(header: string[], rows: string[][], colourColumn?: number): void {
    const visible = [header, ...rows];
    const widths = header.map((_, i) => Math.max(...visible.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[], isHeader: boolean) =>
      cells
        .map((cell, i) => {
          const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i]!);
          return !isHeader && i === colourColumn ? paint(STATUS_COLOURS[cell], padded) : padded;
        })
        .join('  ')
        .trimEnd();
    out(paint(1, line(header, true)));
    for (const r of rows) out(line(r, false));
  }

  function showMessage(m: Message): void {
    const facts: [string, string | null | number][] = [
      ['id', m.id], ['status', paint(STATUS_COLOURS[m.status], m.status)], ['recipient', m.recipient], ['channel', m.channel],
      ['template', m.template], ['source', `${m.source}${m.external_id ? ` ${m.external_id}` : ''}`], ['user', m.user_id],
      ['provider', m.provider ? `${m.provider}${m.provider_message_id ? ` ${m.provider_message_id}` : ''}` : null],
      ['attempts', m.attempts], ['subject', m.subject], ['accepted', time(m.created_at)],
      ['sent', m.sent_at ? `${time(m.sent_at)} (+${latency(m)})` : null], ['delivered', m.delivered_at ? time(m.delivered_at) : null],
      ['last error', m.last_error],
    ];
    const width = Math.max(...facts.map(([k]) => k.length));
    for (const [k, v] of facts) out(`${k.padEnd(width)}  ${v ?? '-'}`);
    out();
    table(
      ['WHEN', 'EVENT', 'PROVIDER', 'DETAIL'],
      (m.events ?? []).map((e) => [
        time(e.occurred_at), e.type, e.provider ?? '-',
        e.detail && Object.keys(e.detail as object).length ? JSON.stringify(e.detail) : '',
      ]),
      1,
    );
  }

  function pct(v: number | null, digits: number): string {
    return v === null ? '-' : `${(v * 100).toFixed(digits)}%`;
  }

  function showStats(s: StatsJson): void {
    out(`window ${s.window}  (${time(s.since)} to ${time(s.until)})`);
    out();
    const counts = Object.entries(s.counts).filter(([, n]) => n > 0);
    out(`messages  ${s.total}${counts.length ? `  (${counts.map(([status, n]) => `${paint(STATUS_COLOURS[status], status)} ${n}`).join(', ')})` : ''}`);
    const r = s.rates.window;
    const last = s.rates.last_1000_sends;
    out(`email sent ${r.sent}: bounce rate ${pct(r.bounce_rate, 2)} (${r.hard_bounces} hard), complaint rate ${pct(r.complaint_rate, 3)} (${r.complaints})`);
    out(`last ${last.sent} email sends: bounce rate ${pct(last.bounce_rate, 2)}, complaint rate ${pct(last.complaint_rate, 3)}`);
    out(`latency   accepted→sent p50 ${ms(s.latency.accepted_to_sent.p50_ms)} p95 ${ms(s.latency.accepted_to_sent.p95_ms)}; ` +
      `sent→delivered p50 ${ms(s.latency.sent_to_delivered.p50_ms)} p95 ${ms(s.latency.sent_to_delivered.p95_ms)}`);
    const scopeRows = (rows: (ScopeStatsJson & { name: string })[]) =>
      rows.map((p) => [
        p.name, String(p.total), String(p.counts.delivered ?? 0), String(p.counts.failed ?? 0), String(p.counts.expired ?? 0),
        String(p.rates.window.sent), pct(p.rates.window.bounce_rate, 2), pct(p.rates.window.complaint_rate, 3),
        ms(p.latency.accepted_to_sent.p95_ms), ms(p.latency.sent_to_delivered.p95_ms),
      ]);
    // Failed (every provider refused) and expired (the code was too old to send: a backlog) point to different fixes.
    const columns = ['TOTAL', 'DELIVERED', 'FAILED', 'EXPIRED', 'EMAIL SENT', 'BOUNCE', 'COMPLAINT', 'TO SENT P95', 'TO DELIVERED P95'];
    out();
    if (s.providers.length) table(['PROVIDER', ...columns], scopeRows(s.providers.map((p) => ({ ...p, name: p.provider }))));
    else out('no messages went to a provider in this window');
    if (s.recipient_domains.length) {
      out();
      table(['DOMAIN', ...columns], scopeRows(s.recipient_domains.map((d) => ({ ...d, name: d.domain }))));
    }
  }

  // ---- commands -----------------------------------------------------------------------------------------

  async function tail(): Promise<void> {
    const lines = Math.min(200, Math.max(1, Number(opts.lines) || 20));
    const intervalMs = Math.max(0.2, Number(opts.interval) || 2) * 1000;
    // The last status printed per message, kept while its change may still be read again (the overlap below).
    const seen = new Map<string, { status: string; updatedAt: number }>();
    // One line per new message and per status change, so a message can be followed to its outcome.
    // A stream cannot be measured first: fixed column widths keep it aligned.
    const widths = [20, 10, 7, 30, 18, 10, 7];
    const cellsOf = (row: string[]) => row.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell));
    const print = (m: Message) => {
      if (opts.json) return out(JSON.stringify(m));
      const cells = cellsOf(messageRow(m)).map((cell, i) => (i === 1 ? paint(STATUS_COLOURS[m.status], cell) : cell));
      const error = m.last_error && ['failed', 'bounced', 'expired'].includes(m.status) ? `  ${m.last_error}` : '';
      out(cells.join('  ') + error);
    };
    const remember = (m: Message) => seen.set(m.id, { status: m.status, updatedAt: Date.parse(m.updated_at) });

    const first = await api<{ data: Message[] }>('GET', `/api/messages?${new URLSearchParams([...filters(), ['limit', String(lines)]])}`);
    if (!opts.json) out(paint(1, cellsOf(MESSAGE_HEADER).join('  ')));
    for (const m of [...first.data].reverse()) {
      remember(m);
      print(m);
    }
    // Changes are read in the order the server stamped them, from the server's clock (never this machine's),
    // every page of them, so a busy minute or a bounce an hour after sending is not missed. Each poll reads
    // OVERLAP_MS back: a transaction that commits late can carry an earlier updated_at than one already read.
    const OVERLAP_MS = 5_000;
    const startedAt = serverTime;
    let watermark = startedAt;
    while (!io.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        io.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (io.signal?.aborted) return;
      const from = new Date(watermark - OVERLAP_MS).toISOString();
      let cursor: string | null = null;
      do {
        const query = filters();
        query.set('updated_since', from);
        query.set('limit', '200');
        if (cursor) query.set('cursor', cursor);
        const page: { data: Message[]; next_cursor: string | null } = await api('GET', `/api/messages?${query}`);
        for (const m of page.data) {
          watermark = Math.max(watermark, Date.parse(m.updated_at));
          // Changes from before the start are the backlog, not news: only the first page of it is shown.
          if (seen.get(m.id)?.status !== m.status && Date.parse(m.updated_at) >= startedAt) print(m);
          remember(m);
        }
        cursor = page.next_cursor;
      } while (cursor && !io.signal?.aborted);
      for (const [id, s] of seen) if (s.updatedAt < watermark - 2 * OVERLAP_MS) seen.delete(id);
    }
  }

  async function suppressions(rest: string[]): Promise<void> {
    const [action, recipient] = rest;
    const channel = opts.channel ?? (recipient && !recipient.includes('@') ? 'sms' : 'email');
    switch (action) {
      case 'list': {
        const q = new URLSearchParams();
        if (opts.search) q.set('search', opts.search);
        if (opts.channel) q.set('channel', opts.channel);
        q.set('limit', String(Math.min(200, Math.max(1, Number(opts.lines) || 50))));
        if (opts.cursor) q.set('cursor', opts.cursor);
        const result = await api<{ data: Suppression[]; next_cursor: string | null }>('GET', `/api/suppressions?${q}`);
        if (opts.json) return json(result);
        if (!result.data.length) return out(opts.search ? `No suppressed recipient matches "${opts.search}".` : 'No suppressed recipients.');
        table(
          ['RECIPIENT', 'CHANNEL', 'REASON', 'SINCE', 'UNTIL', 'NOTE'],
          result.data.map((s) => [
            s.recipient, s.channel, s.reason, time(s.created_at), s.expires_at ? time(s.expires_at) : 'released by hand',
            s.detail?.note ?? (s.source_message_id ? `after ${s.source_message_id}` : ''),
          ]),
        );
        if (result.next_cursor) out(`more: relay suppressions list${opts.search ? ` --search ${opts.search}` : ''} --cursor ${result.next_cursor}`);
        return;
      }
      case 'add': {
        const r = required(recipient, 'suppressions add <recipient> [--channel email|sms] [--reason TEXT]');
        const result = await api<Suppression>('POST', '/api/suppressions', { channel, recipient: r, ...(opts.reason ? { reason: opts.reason } : {}) });
        return opts.json ? json(result) : out(`suppressed ${result.recipient} (${result.channel}) ${result.expires_at ? `until ${time(result.expires_at)}` : 'until released'}`);
      }
      case 'release': {
        const r = required(recipient, 'suppressions release <recipient> [--channel email|sms]');
        const result = await api<{ released: boolean; suppression: Suppression }>('DELETE', `/api/suppressions?${new URLSearchParams({ channel, recipient: r })}`);
        return opts.json ? json(result) : out(`released ${result.suppression.recipient} (${result.suppression.channel}; was ${result.suppression.reason})`);
      }
      default:
        throw new CliError('usage: relay suppressions list|add|release');
    }
  }
}

if (require.main === module) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  runRelay(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, signal: controller.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`relay: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

/** Every string in an API answer with control characters (ESC, BEL, newlines …) shown as `?`. */
function withoutControlCharacters(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  if (Array.isArray(value)) return value.map(withoutControlCharacters);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutControlCharacters(v)]));
  }
  return value;
}
