import type { SuppressionJson } from '../../src/deliverability/suppressions';
import { CliError, time, type Cli } from './cli';

/** The API's suppression shape; the CLI also reads the note an operator left when adding one. */
type Suppression = SuppressionJson & { detail: { note?: string } | null };

async function list(cli: Cli): Promise<void> {
  const { opts } = cli;
  const q = new URLSearchParams();
  if (opts.search) q.set('search', opts.search);
  if (opts.channel) q.set('channel', opts.channel);
  q.set('limit', String(Math.min(200, Math.max(1, Number(opts.lines) || 50))));
  if (opts.cursor) q.set('cursor', opts.cursor);
  const result = await cli.api<{ data: Suppression[]; next_cursor: string | null }>('GET', `/api/suppressions?${q}`);
  if (opts.json) return cli.json(result);
  if (!result.data.length) return cli.out(opts.search ? `No suppressed recipient matches "${opts.search}".` : 'No suppressed recipients.');
  cli.table(
    ['RECIPIENT', 'CHANNEL', 'REASON', 'SINCE', 'UNTIL', 'NOTE'],
    result.data.map((s) => [
      s.recipient,
      s.channel,
      s.reason,
      time(s.created_at),
      s.expires_at ? time(s.expires_at) : 'released by hand',
      s.detail?.note ?? (s.source_message_id ? `after ${s.source_message_id}` : ''),
    ]),
  );
  if (result.next_cursor)
    cli.out(`more: relay suppressions list${opts.search ? ` --search ${opts.search}` : ''} --cursor ${result.next_cursor}`);
}

/** `relay suppressions list|add|release`. */
export async function suppressions(cli: Cli): Promise<void> {
  const { opts } = cli;
  const [action, recipient] = cli.args;
  const channel = opts.channel ?? (recipient && !recipient.includes('@') ? 'sms' : 'email');
  switch (action) {
    case 'list':
      return list(cli);
    case 'add': {
      const r = cli.required(recipient, 'suppressions add <recipient> [--channel email|sms] [--reason TEXT]');
      const result = await cli.api<Suppression>('POST', '/api/suppressions', {
        channel,
        recipient: r,
        ...(opts.reason ? { reason: opts.reason } : {}),
      });
      return opts.json
        ? cli.json(result)
        : cli.out(
            `suppressed ${result.recipient} (${result.channel}) ${result.expires_at ? `until ${time(result.expires_at)}` : 'until released'}`,
          );
    }
    case 'release': {
      const r = cli.required(recipient, 'suppressions release <recipient> [--channel email|sms]');
      const result = await cli.api<{ released: boolean; suppression: Suppression }>(
        'DELETE',
        `/api/suppressions?${new URLSearchParams({ channel, recipient: r })}`,
      );
      return opts.json
        ? cli.json(result)
        : cli.out(`released ${result.suppression.recipient} (${result.suppression.channel}; was ${result.suppression.reason})`);
    }
    default:
      throw new CliError('usage: relay suppressions list|add|release');
  }
}
