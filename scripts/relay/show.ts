import { latency, STATUS_COLOURS, time, type Cli, type Message } from './cli';

/** `relay show <message id>`: one message with its timeline. */
export async function show(cli: Cli): Promise<void> {
  const id = cli.required(cli.args[0], 'show <message id>');
  const m = await cli.api<Message>('GET', `/api/messages/${encodeURIComponent(id)}`);
  if (cli.opts.json) return cli.json(m);
  const facts: [string, string | null | number][] = [
    ['id', m.id],
    ['status', cli.paint(STATUS_COLOURS[m.status], m.status)],
    ['recipient', m.recipient],
    ['channel', m.channel],
    ['template', m.template],
    ['source', `${m.source}${m.external_id ? ` ${m.external_id}` : ''}`],
    ['user', m.user_id],
    ['provider', m.provider ? `${m.provider}${m.provider_message_id ? ` ${m.provider_message_id}` : ''}` : null],
    ['attempts', m.attempts],
    ['subject', m.subject],
    ['accepted', time(m.created_at)],
    ['sent', m.sent_at ? `${time(m.sent_at)} (+${latency(m)})` : null],
    ['delivered', m.delivered_at ? time(m.delivered_at) : null],
    ['last error', m.last_error],
  ];
  const width = Math.max(...facts.map(([k]) => k.length));
  for (const [k, v] of facts) cli.out(`${k.padEnd(width)}  ${v ?? '-'}`);
  cli.out();
  cli.table(
    ['WHEN', 'EVENT', 'PROVIDER', 'DETAIL'],
    (m.events ?? []).map((e) => [
      time(e.occurred_at),
      e.type,
      e.provider ?? '-',
      e.detail && Object.keys(e.detail as object).length ? JSON.stringify(e.detail) : '',
    ]),
    1,
  );
}
