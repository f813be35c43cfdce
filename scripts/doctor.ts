import { Resolver } from 'node:dns/promises';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { AccountClient, ServerClient } from 'postmark';
import { Resend } from 'resend';
import { ConfigError, parseConfig, type Config } from '../src/config/env';
import { runDoctor } from '../src/deliverability/doctor-cli';
import { postmarkStatus, sesStatus, type ProviderStatusSource } from '../src/deliverability/provider-status';
import { postmarkClientOptions } from '../src/providers/postmark/postmark-provider';

/** `npm run doctor -- <domain> [--setup] [--timeout <seconds>]`: see src/deliverability/doctor-cli.ts. */
let config: Config;
try {
  config = parseConfig(process.env);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}

const TIMEOUT_MS = 10_000;
const providers: ProviderStatusSource[] = [];
if (config.EMAIL_PROVIDERS.includes('ses') && config.SES_REGION) {
  const client = new SESv2Client({ region: config.SES_REGION, ...(config.SES_ENDPOINT ? { endpoint: config.SES_ENDPOINT } : {}) });
  providers.push(sesStatus(client, config.EMAIL_FROM));
}
if (config.EMAIL_PROVIDERS.includes('postmark') && config.POSTMARK_SERVER_TOKEN) {
  const options = postmarkClientOptions(config.POSTMARK_API_URL, TIMEOUT_MS);
  providers.push(
    postmarkStatus({
      server: new ServerClient(config.POSTMARK_SERVER_TOKEN, options),
      messageStream: config.POSTMARK_MESSAGE_STREAM,
      ...(config.POSTMARK_ACCOUNT_TOKEN ? { account: new AccountClient(config.POSTMARK_ACCOUNT_TOKEN, options) } : {}),
    }),
  );
}

runDoctor(process.argv.slice(2), {
  resolver: new Resolver({ timeout: 5_000, tries: 2 }),
  resend: config.RESEND_API_KEY ? new Resend(config.RESEND_API_KEY, { baseUrl: config.RESEND_BASE_URL }).domains : undefined,
  // Resend's DKIM/SPF layout is only required of a domain that sends through Resend.
  resendRecords: providers.length === 0 || config.EMAIL_PROVIDERS.includes('resend'),
  providers,
  print: (line) => console.log(line),
  printError: (line) => console.error(line),
}).then((code) => process.exit(code));
