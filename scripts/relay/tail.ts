import { latency, STATUS_COLOURS, time, type Cli, type Message } from './cli';

const messageRow = (m: Message): string[] => [
  time(m.created_at),
  m.status,
  m.channel,
  m.recipient,
  m.template ?? '-',
  m.provider ?? '-',
  latency(m),
  m.id,
];
const MESSAGE_HEADER = ['CREATED', 'STATUS', 'CHANNEL', 'RECIPIENT', 'TEMPLATE', 'PROVIDER', 'TO SENT', 'ID'];
// A stream cannot be measured first: fixed column widths keep it aligned.
const WIDTHS = [20, 10, 7, 30, 18, 10, 7];
const cellsOf = (row: string[]) => row.map((cell, i) => (i < WIDTHS.length ? cell.padEnd(WIDTHS[i]!) : cell));

/**
 * Changes are read in the order the server stamped them, from the server's clock (never this machine's), every
 * page of them, so a busy minute or a bounce an hour after sending is not missed. Each poll reads OVERLAP_MS
 * back: a transaction that commits late can carry an earlier updated_at than one already read.
 */
const OVERLAP_MS = 5_000;

const pause = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** `relay tail`: the newest messages, then one line per new message and per status change, until stopped. */
export async function tail(cli: Cli): Promise<void> {
  const { opts, signal } = cli;
  const lines = Math.min(200, Math.max(1, Number(opts.lines) || 20));
  const intervalMs = Math.max(0.2, Number(opts.interval) || 2) * 1000;
  // The last status printed per message, kept while its change may still be read again (the overlap).
  const seen = new Map<string, { status: string; updatedAt: number }>();
  const print = (m: Message) => {
    if (opts.json) return cli.out(JSON.stringify(m));
    const cells = cellsOf(messageRow(m)).map((cell, i) => (i === 1 ? cli.paint(STATUS_COLOURS[m.status], cell) : cell));
    const error = m.last_error && ['failed', 'bounced', 'expired'].includes(m.status) ? `  ${m.last_error}` : '';
    cli.out(cells.join('  ') + error);
  };
  const remember = (m: Message) => seen.set(m.id, { status: m.status, updatedAt: Date.parse(m.updated_at) });

  const first = await cli.api<{ data: Message[] }>(
    'GET',
    `/api/messages?${new URLSearchParams([...cli.filters(), ['limit', String(lines)]])}`,
  );
  if (!opts.json) cli.out(cli.paint(1, cellsOf(MESSAGE_HEADER).join('  ')));
  for (const m of [...first.data].reverse()) {
    remember(m);
    print(m);
  }
  const startedAt = cli.serverTime();
  let watermark = startedAt;
  while (!signal?.aborted) {
    await pause(intervalMs, signal);
    if (signal?.aborted) return;
    const from = new Date(watermark - OVERLAP_MS).toISOString();
    let cursor: string | null = null;
    do {
      const query = cli.filters();
      query.set('updated_since', from);
      query.set('limit', '200');
      if (cursor) query.set('cursor', cursor);
      const page: { data: Message[]; next_cursor: string | null } = await cli.api('GET', `/api/messages?${query}`);
      for (const m of page.data) {
        watermark = Math.max(watermark, Date.parse(m.updated_at));
        // Changes from before the start are the backlog, not news: only the first page of it is shown.
        if (seen.get(m.id)?.status !== m.status && Date.parse(m.updated_at) >= startedAt) print(m);
        remember(m);
      }
      cursor = page.next_cursor;
    } while (cursor && !signal?.aborted);
    for (const [id, s] of seen) if (s.updatedAt < watermark - 2 * OVERLAP_MS) seen.delete(id);
  }
}
