import {
  diagnose,
  DoctorError,
  formatReport,
  setup,
  somethingMissing,
  type DnsResolver,
  type DoctorReport,
  type ResendDomains,
} from './doctor';
import type { ProviderStatusSource } from './provider-status';

/**
 * `npm run doctor -- <domain> [--setup] [--timeout <seconds>]`, with its dependencies passed in so the exit
 * codes and output are tested against a fake resolver and a fake Resend. Exit codes, for scripts and CI:
 *   0  everything required is in place (and Resend, SES and Postmark, when asked, have verified the domain)
 *   1  something required is missing, wrong or unverified: the output says what to publish
 *   2  misuse: bad arguments, not a domain name, --setup without RESEND_API_KEY
 *   3  could not tell: a DNS lookup or a provider API failed (nothing found missing so far)
 */
export const USAGE = 'usage: npm run doctor -- <domain> [--setup] [--timeout <seconds>]';

export const EXIT = { ok: 0, missing: 1, usage: 2, unknown: 3 } as const;

export interface DoctorCliDeps {
  resolver: DnsResolver;
  /** Built from RESEND_API_KEY when it is set. */
  resend?: ResendDomains;
  /** Whether Resend is among EMAIL_PROVIDERS (or none is named): its DNS layout is checked. Default true. */
  resendRecords?: boolean;
  /** SES / Postmark status sources for the email providers configured. */
  providers?: ProviderStatusSource[];
  print: (line: string) => void;
  printError: (line: string) => void;
  setupPollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

function parseArgs(argv: string[]): { domain: string; setup: boolean; timeoutSeconds: number } | string {
  let domain: string | undefined;
  let setupMode = false;
  let timeoutSeconds = 600;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--setup') setupMode = true;
    else if (arg === '--timeout') {
      timeoutSeconds = Number(argv[++i]);
      if (!(timeoutSeconds > 0)) return '--timeout needs a number of seconds';
    } else if (arg.startsWith('-')) return `unknown option ${arg}`;
    else if (domain) return `one domain at a time (got ${domain} and ${arg})`;
    else domain = arg;
  }
  return domain ? { domain, setup: setupMode, timeoutSeconds } : 'which domain?';
}

function exitCodeOf(report: DoctorReport): number {
  if (report.ok) return EXIT.ok;
  return somethingMissing(report) ? EXIT.missing : EXIT.unknown;
}

export async function runDoctor(argv: string[], deps: DoctorCliDeps): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    deps.printError(`${args}\n${USAGE}`);
    return EXIT.usage;
  }
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+\.?$/i.test(args.domain.trim())) {
    deps.printError(`"${args.domain}" is not a domain name\n${USAGE}`);
    return EXIT.usage;
  }
  if (args.setup && !deps.resend) {
    deps.printError('--setup creates the domain in Resend: set RESEND_API_KEY');
    return EXIT.usage;
  }
  try {
    const report = args.setup
      ? await setup({
          domain: args.domain,
          resolver: deps.resolver,
          resend: deps.resend!,
          timeoutMs: args.timeoutSeconds * 1000,
          intervalMs: deps.setupPollMs ?? 10_000,
          print: deps.print,
          sleep: deps.sleep,
        })
      : await diagnose({
          domain: args.domain,
          resolver: deps.resolver,
          resend: deps.resend,
          resendRecords: deps.resendRecords,
          providers: deps.providers,
        });
    deps.print(formatReport(report));
    return exitCodeOf(report);
  } catch (err) {
    if (err instanceof DoctorError) {
      deps.printError(err.message);
      // The domain is missing from Resend: something required is missing. Anything else: we could not tell.
      return err.missing ? EXIT.missing : EXIT.unknown;
    }
    deps.printError(`doctor failed: ${(err as Error).message}`);
    return EXIT.unknown;
  }
}
