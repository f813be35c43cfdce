import { STATUS_COLOURS, type Cli } from './cli';

/** `relay retry <message id>`: send a failed or expired message again. */
export async function retry(cli: Cli): Promise<void> {
  const id = cli.required(cli.args[0], 'retry <message id>');
  const result = await cli.api<{ id: string; status: string }>('POST', `/api/messages/${encodeURIComponent(id)}/retry`);
  if (cli.opts.json) cli.json(result);
  else cli.out(`${result.id} ${cli.paint(STATUS_COLOURS[result.status], result.status)}: queued again`);
}
