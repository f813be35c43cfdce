import { Resolver } from 'node:dns/promises';
import { Resend } from 'resend';
import { runDoctor } from '../src/deliverability/doctor-cli';

/** `npm run doctor -- <domain> [--setup] [--timeout <seconds>]`: see src/deliverability/doctor-cli.ts. */
const apiKey = process.env.RESEND_API_KEY;
runDoctor(process.argv.slice(2), {
  resolver: new Resolver({ timeout: 5_000, tries: 2 }),
  resend: apiKey ? new Resend(apiKey, { baseUrl: process.env.RESEND_BASE_URL || 'https://api.resend.com' }).domains : undefined,
  print: (line) => console.log(line),
  printError: (line) => console.error(line),
}).then((code) => process.exit(code));
