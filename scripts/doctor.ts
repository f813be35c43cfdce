import { Resolver } from 'node:dns/promises';
import { Resend } from 'resend';
import { diagnose, DoctorError, formatReport, setup } from '../src/deliverability/doctor';

/**
 * `npm run doctor -- <domain> [--setup] [--timeout <seconds>]`: checks a sending domain's DNS (and with
 * RESEND_API_KEY, Resend's view of it). Exit 0 when everything required is in place, 1 when not, 2 on misuse.
 */
const USAGE = 'usage: npm run doctor -- <domain> [--setup] [--timeout <seconds>]';

async function run(argv: string[]): Promise<number> {
  const args = [...argv];
  const setupMode = args.includes('--setup');
  const timeoutAt = args.indexOf('--timeout');
  const timeoutSeconds = timeoutAt >= 0 ? Number(args[timeoutAt + 1]) : 600;
  const domain = args.filter((a, i) => !a.startsWith('--') && (timeoutAt < 0 || i !== timeoutAt + 1))[0];
  if (!domain || !(timeoutSeconds > 0)) {
    console.error(USAGE);
    return 2;
  }
  const apiKey = process.env.RESEND_API_KEY;
  const resend = apiKey
    ? new Resend(apiKey, { baseUrl: process.env.RESEND_BASE_URL || 'https://api.resend.com' }).domains
    : undefined;
  const resolver = new Resolver({ timeout: 5_000, tries: 2 });
  if (setupMode && !resend) {
    console.error('--setup creates the domain in Resend: set RESEND_API_KEY');
    return 2;
  }
  const report = setupMode
    ? await setup({ domain, resolver, resend: resend!, timeoutMs: timeoutSeconds * 1000, intervalMs: 10_000, print: (l) => console.log(l) })
    : await diagnose({ domain, resolver, resend });
  console.log(formatReport(report));
  return report.ok ? 0 : 1;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof DoctorError ? err.message : `doctor failed: ${(err as Error).message}`);
    process.exit(err instanceof DoctorError ? 1 : 2);
  },
);
