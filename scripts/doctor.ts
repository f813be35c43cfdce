import { Resolver } from 'node:dns/promises';
import { Resend } from 'resend';
import { ConfigError, parseConfig } from '../src/config/env';
import { runDoctor } from '../src/deliverability/doctor-cli';

/** `npm run doctor -- <domain> [--setup] [--timeout <seconds>]`: see src/deliverability/doctor-cli.ts. */
let config;
try {
  config = parseConfig(process.env);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}
runDoctor(process.argv.slice(2), {
  resolver: new Resolver({ timeout: 5_000, tries: 2 }),
  resend: config.RESEND_API_KEY ? new Resend(config.RESEND_API_KEY, { baseUrl: config.RESEND_BASE_URL }).domains : undefined,
  print: (line) => console.log(line),
  printError: (line) => console.error(line),
}).then((code) => process.exit(code));
