import type { Logger } from '../lib/logger';
import type { Config } from './env';

/** Each secret whose absence leaves routes answering 503 (NotConfiguredError), and those routes. */
const SECRET_ROUTES: readonly [keyof Config, string[]][] = [
  ['CLERK_WEBHOOK_SIGNING_SECRET', ['POST /webhooks/clerk']],
  ['SUPABASE_HOOK_SECRET', ['POST /webhooks/supabase']],
  ['API_KEYS', ['/v1/*']],
  ['VERIFICATION_SECRET', ['POST /v1/verifications', 'POST /v1/verifications/check']],
  ['ADMIN_TOKEN', ['/api/*', '/dashboard']],
  ['RESEND_WEBHOOK_SECRET', ['POST /webhooks/resend']],
  ['AUTOSEND_WEBHOOK_SECRET', ['POST /webhooks/autosend']],
];

/** The webhook secret without which a provider's delivery events (bounces, complaints) are refused. */
const EVENT_SECRETS: Partial<Record<string, keyof Config>> = { resend: 'RESEND_WEBHOOK_SECRET', autosend: 'AUTOSEND_WEBHOOK_SECRET' };

export interface ConfigSummary {
  /** Where messages can come from: each needs its secret. */
  sources: string[];
  email_providers: string[];
  sms_providers: string[];
  /** What emails are sent from: EMAIL_FROM, or Clerk's local part at EMAIL_FROM_DOMAIN; null when neither is set. */
  email_from: string | null;
  /** Unset secrets, each with the routes that therefore answer 503. */
  not_configured: { variable: string; routes: string[] }[];
  /** What will not work as configured, each naming what to set. */
  problems: string[];
}

/** What this configuration can and cannot do, for the one line logged at start. Pure: config in, summary out. */
export function summarizeConfig(config: Config): ConfigSummary {
  const sources = [
    config.CLERK_WEBHOOK_SIGNING_SECRET && 'clerk',
    config.SUPABASE_HOOK_SECRET && 'supabase',
    config.API_KEYS && 'api',
    config.API_KEYS && config.VERIFICATION_SECRET && 'verification',
  ].filter((s): s is string => Boolean(s));
  const emailFrom = config.EMAIL_FROM ?? (config.EMAIL_FROM_DOMAIN ? `<local part from the event>@${config.EMAIL_FROM_DOMAIN}` : null);
  const problems: string[] = [];
  if (sources.length === 0) {
    problems.push('no source is configured: set CLERK_WEBHOOK_SIGNING_SECRET, SUPABASE_HOOK_SECRET or API_KEYS, or nothing will arrive');
  }
  const sending = config.EMAIL_PROVIDERS.filter((p) => p !== 'outbox');
  if (sending.length > 0 && !emailFrom) {
    problems.push('no From address: every email will fail with missing_from; set EMAIL_FROM ("Acme <auth@acme.com>") or EMAIL_FROM_DOMAIN');
  }
  for (const [channel, chain] of [
    ['email', config.EMAIL_PROVIDERS],
    ['SMS', config.SMS_PROVIDERS],
  ] as const) {
    if (chain.includes('outbox')) {
      problems.push(
        `${channel} goes to the outbox, which sends nothing (development only): set a provider's key${channel === 'email' && !emailFrom ? ' and EMAIL_FROM' : ''}`,
      );
    }
  }
  for (const provider of sending) {
    const secret = EVENT_SECRETS[provider];
    if (secret && !config[secret]) problems.push(`${provider}'s delivery events (bounces, complaints) are refused until ${secret} is set`);
  }
  if (config.CLERK_WEBHOOK_SIGNING_SECRET && !config.CLERK_SECRET_KEY) {
    problems.push('bounces are not written back to Clerk users until CLERK_SECRET_KEY is set');
  }
  return {
    sources,
    email_providers: [...config.EMAIL_PROVIDERS],
    sms_providers: [...config.SMS_PROVIDERS],
    email_from: emailFrom,
    not_configured: SECRET_ROUTES.filter(([variable]) => !config[variable]).map(([variable, routes]) => ({ variable, routes })),
    problems,
  };
}

/** The summary as one sentence an operator reads at a glance. */
export function describeConfig(summary: ConfigSummary): string {
  const parts = [
    `sources: ${summary.sources.join(', ') || 'none'}`,
    `email: ${summary.email_providers.join(' → ')} from ${summary.email_from ?? '(no From)'}`,
    `sms: ${summary.sms_providers.join(' → ')}`,
  ];
  if (summary.not_configured.length > 0) {
    parts.push(`503 until set: ${summary.not_configured.map((n) => `${n.variable} (${n.routes.join(', ')})`).join('; ')}`);
  }
  if (summary.problems.length > 0) parts.push(`problems: ${summary.problems.join('; ')}`);
  return `configuration: ${parts.join(' | ')}`;
}

/** Logs the summary once at start: a warning when something will not work, else info. */
export function logConfigSummary(log: Logger, config: Config): void {
  const summary = summarizeConfig(config);
  log[summary.problems.length > 0 ? 'warn' : 'info'](summary, describeConfig(summary));
}
