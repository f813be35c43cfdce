import type { EventJson, MessageJson } from '../../src/delivery/message-log';

/** What every `relay` command is given: its options and arguments, the API, and the terminal. */

export interface RelayIo {
  env: Record<string, string | undefined>;
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown };
  /** Stops `tail`. */
  signal?: AbortSignal;
}

export interface RelayOptions {
  json: boolean;
  search?: string;
  status?: string;
  channel?: string;
  provider?: string;
  template?: string;
  recipient?: string;
  'user-id'?: string;
  lines: string;
  interval: string;
  window: string;
  reason?: string;
  cursor?: string;
}

/** A mistake the user can fix (usage, configuration, an API refusal): printed as one line, exit status 1. */
export class CliError extends Error {}

/** The API's shapes (src/delivery/message-log.ts): the CLI is a client of the same JSON. */
export type Message = MessageJson & { events?: EventJson[] };

export const STATUS_COLOURS: Record<string, number> = {
  queued: 34,
  sending: 34,
  sent: 35,
  delivered: 32,
  delayed: 33,
  bounced: 31,
  complained: 31,
  failed: 31,
  suppressed: 90,
  expired: 90,
};

export function ms(v: number | null): string {
  if (v === null) return '-';
  return v < 1000 ? `${v}ms` : `${(v / 1000).toFixed(1)}s`;
}

export const latency = (m: Message): string => (m.sent_at ? ms(Date.parse(m.sent_at) - Date.parse(m.created_at)) : '-');

export const time = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export interface Cli {
  opts: RelayOptions;
  /** The positionals after the command. */
  args: string[];
  signal?: AbortSignal;
  out(line?: string): void;
  json(value: unknown): void;
  paint(code: number | undefined, text: string): string;
  /** Columns padded to their widest cell; the last column is not padded. */
  table(header: string[], rows: string[][], colourColumn?: number): void;
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** The server's clock (whole seconds, from its Date header) at its last answer. */
  serverTime(): number;
  required(value: string | undefined, usage: string): string;
  /** The message filters given as options, as the API's query. */
  filters(): URLSearchParams;
}

/** Every string in an API answer with control characters (ESC, BEL, newlines …) shown as `?`. */
function withoutControlCharacters(value: unknown): unknown {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (typeof value === 'string') return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  if (Array.isArray(value)) return value.map(withoutControlCharacters);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutControlCharacters(v)]));
  }
  return value;
}

/** Columns padded to their widest cell; the last column is not padded. */
function tableWriter(out: (line?: string) => void, paint: (code: number | undefined, text: string) => string): Cli['table'] {
  return (header, rows, colourColumn) => {
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
  };
}

export function createCli(io: RelayIo, opts: RelayOptions, args: string[]): Cli {
  const colour = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
  const out = (line = ''): void => void io.stdout.write(`${line}\n`);
  const paint = (code: number | undefined, text: string): string => (colour && code ? `\x1b[${code}m${text}\x1b[0m` : text);
  // In the container PORT is the server's own port, so the default finds it there too.
  const baseUrl = (io.env.RELAY_URL ?? `http://127.0.0.1:${io.env.PORT ?? 3000}`).replace(/\/+$/, '');
  const token = io.env.ADMIN_TOKEN;
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
    let data: unknown;
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

  return {
    opts,
    args,
    signal: io.signal,
    out,
    json: (value) => out(JSON.stringify(value, null, 2)),
    paint,
    table: tableWriter(out, paint),
    api,
    serverTime: () => serverTime,
    required(value, usage) {
      if (!value) throw new CliError(`usage: relay ${usage}`);
      return value;
    },
    filters() {
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
    },
  };
}
