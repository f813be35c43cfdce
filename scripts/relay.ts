/**
 * `relay`: the on-call delivery log from a terminal. A thin client of auth-relay's admin JSON API; each command
 * is a file under scripts/relay/.
 *
 *   npm run relay -- tail --status failed          (or, in the container: node dist/scripts/relay.js tail)
 *
 * RELAY_URL (default http://127.0.0.1:$PORT, or :3000) and ADMIN_TOKEN come from the environment.
 */
import { parseArgs } from 'node:util';
import { CliError, createCli, type Cli, type RelayIo } from './relay/cli';
import { retry } from './relay/retry';
import { show } from './relay/show';
import { stats } from './relay/stats';
import { suppressions } from './relay/suppressions';
import { tail } from './relay/tail';

export type { RelayIo } from './relay/cli';

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

const COMMANDS: Record<string, (cli: Cli) => Promise<void>> = { tail, show, retry, stats, suppressions };

const OPTIONS = {
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
} as const;

export async function runRelay(argv: string[], io: RelayIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
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
  try {
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new CliError(`unknown command "${command}"\n\n${USAGE}`);
    await run(createCli(io, opts, args));
    return 0;
  } catch (err) {
    if (io.signal?.aborted) return 0;
    if (err instanceof CliError) {
      io.stderr.write(`relay: ${err.message}\n`);
      return 1;
    }
    throw err;
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
