import { z } from 'zod';
import { EMAIL_ADDRESS, mailboxAddress } from '../lib/recipient';
import { outboundAllowList } from './outbound-allow-list';
import { REDIS_MODES } from '../lib/redis';
import type { TraceSampler } from '../lib/tracing-sdk';

/** Docker and shells often pass `FOO=` for "unset"; treat an empty value as absent so defaults apply. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const withDefault = <T extends z.ZodType>(schema: T, fallback: z.input<T>) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.default(fallback as never));

const positiveInt = z.coerce.number().int().positive();
const percent = z.coerce.number().positive().max(100);
const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgresql:// URL' });

/** `a, b,,c` is `['a', 'b', 'c']`: the entries of a comma-separated variable, trimmed, empty ones dropped. */
const commaSeparated = (s: string): string[] =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

const list = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .string()
    .transform(commaSeparated)
    .pipe(z.array(z.enum(values)).min(1, 'must name at least one provider'));

export const EMAIL_PROVIDER_NAMES = ['resend', 'autosend', 'smtp', 'ses', 'postmark', 'outbox'] as const;
export const SMS_PROVIDER_NAMES = ['unosend', 'twilio', 'outbox'] as const;
export type EmailProviderName = (typeof EMAIL_PROVIDER_NAMES)[number];
export type SmsProviderName = (typeof SMS_PROVIDER_NAMES)[number];

/**
 * `auth@acme.com` or `Acme <auth@acme.com>`: what every email provider accepts as From. The address is held to
 * the pattern every recipient is (lib/recipient.ts).
 */
const mailbox = z
  .string()
  .trim()
  .refine(
    (value) => /^(?:[^<>]*<[^<>]+>|[^<>\s]+)$/.test(value) && EMAIL_ADDRESS.test(mailboxAddress(value)),
    'must look like auth@acme.com or "Acme <auth@acme.com>"',
  );

/** `true` or `false`; unset (or empty) is `fallback`, parsed like a given value (a zod default would skip the transform). */
const bool = (fallback: 'true' | 'false') =>
  z.preprocess(
    (v) => (v === undefined || (typeof v === 'string' && v.trim() === '') ? fallback : v),
    z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true'),
  );

const svixSecret = z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, 'must look like whsec_<base64>');

export const VERIFICATION_PURPOSES = ['login', '2fa', 'email_verification', 'phone_verification', 'magic_link', 'password_reset'] as const;
export type VerificationPurpose = (typeof VERIFICATION_PURPOSES)[number];

/** `login=300,password_reset=1800`: per-purpose code lifetimes in seconds, overriding the defaults. */
const verificationExpiry = z
  .string()
  .transform((s) => commaSeparated(s).map((p) => p.split('=').map((x) => x.trim()) as [string, unknown]))
  .pipe(z.array(z.tuple([z.enum(VERIFICATION_PURPOSES), z.coerce.number().int().min(30).max(86_400)])))
  .transform((pairs) => Object.fromEntries(pairs) as Partial<Record<VerificationPurpose, number>>);

/** `name=value,name2=value2` (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS is written; values may be secrets. */
const otlpHeaders = z.string().transform((s, ctx) => {
  const headers: Record<string, string> = {};
  for (const pair of commaSeparated(s)) {
    const match = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(\S.*)$/.exec(pair);
    let value: string | undefined;
    try {
      value = match ? decodeURIComponent(match[2]!) : undefined;
    } catch {
      value = undefined;
    }
    // The message never quotes the pair: its value is likely a key.
    if (!match || value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'each header must be name=value (value URL-encoded), comma-separated' });
      return z.NEVER;
    }
    headers[match[1]!] = value;
  }
  return headers;
});

export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const satisfies readonly TraceSampler[];

const EnvSchema = z.object({
  NODE_ENV: withDefault(z.enum(['development', 'test', 'production']), 'development'),
  ROLE: withDefault(z.enum(['all', 'api', 'worker']), 'all'),
  PORT: withDefault(z.coerce.number().int().min(0).max(65535), 3000),
  DATABASE_URL: withDefault(postgresUrl, 'postgresql://postgres:postgres@127.0.0.1:5432/auth_relay'),
  // Migrations need a direct connection (session-level state), not a transaction-mode pooler. Unset: DATABASE_URL.
  MIGRATE_DATABASE_URL: optional(postgresUrl),
  MIGRATE_ON_START: bool('true'),
  DATABASE_POOL_SIZE: withDefault(positiveInt, 10),
  // One URL; in cluster and sentinel mode a comma-separated list of nodes (cluster nodes, or the sentinels).
  REDIS_URL: withDefault(
    z
      .string()
      .refine((s) => s.split(',').every((u) => /^rediss?:\/\/\S+$/.test(u.trim()) && URL.canParse(u.trim())), 'must be redis:// URLs'),
    'redis://127.0.0.1:6379',
  ),
  REDIS_MODE: withDefault(z.enum(REDIS_MODES), 'standalone'),
  REDIS_SENTINEL_MASTER: optional(z.string().min(1)),
  QUEUE_PREFIX: withDefault(z.string().regex(/^[A-Za-z0-9_{}-]+$/, 'letters, digits, _ - { } only'), 'auth-relay'),
  // Unset: no metrics listener, but ROLE=worker gets one on 9464 (src/http/metrics-listener.ts).
  METRICS_PORT: optional(z.coerce.number().int().min(1).max(65535)),
  METRICS_TOKEN: optional(z.string().min(16, 'must be at least 16 characters')),
  LOG_LEVEL: withDefault(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  ADMIN_TOKEN: optional(z.string().min(16, 'must be at least 16 characters')),
  // Behind a load balancer, which X-Forwarded-For hops to believe (Express's `trust proxy`): a hop count, or
  // the proxies' addresses/subnets; the client is the right-most address not trusted. Unset, the socket's
  // address is the client's (per-IP limits see the proxy). `true` is refused: it believes the left-most
  // entry, which the client writes itself, so a client rotating it escapes every per-IP limit.
  TRUST_PROXY: optional(
    z
      .string()
      .regex(/^(true|false|\d+|[0-9A-Fa-f.:/, ]+|loopback|linklocal|uniquelocal)$/, "must be a hop count or the proxies' addresses/subnets")
      .refine(
        (v) => v !== 'true',
        '`true` trusts whatever address the client claims; set the number of proxies in front (e.g. 1) or their addresses/subnets',
      )
      .transform((v): false | number | string => (v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v)),
  ),

  // Tracing, with OpenTelemetry's own variables. Unset endpoint: no trace is made and the SDK is not loaded.
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(
    z.url({ protocol: /^https?$/, error: "must be the collector's http(s):// URL, e.g. http://otel-collector:4318" }),
  ),
  OTEL_EXPORTER_OTLP_PROTOCOL: withDefault(
    z.enum(['http/protobuf', 'http/json'], {
      error: "must be http/protobuf or http/json (grpc is not supported: use the collector's OTLP/HTTP port, 4318)",
    }),
    'http/protobuf',
  ),
  OTEL_EXPORTER_OTLP_HEADERS: optional(otlpHeaders),
  OTEL_SERVICE_NAME: withDefault(z.string().min(1), 'auth-relay'),
  OTEL_TRACES_SAMPLER: withDefault(
    z.enum(TRACE_SAMPLERS, { error: `must be one of ${TRACE_SAMPLERS.join(', ')}` }),
    'parentbased_always_on',
  ),
  // The ratio of the *traceidratio samplers; the others ignore it, as the specification says.
  OTEL_TRACES_SAMPLER_ARG: optional(z.coerce.number().min(0).max(1)),

  CLERK_WEBHOOK_SIGNING_SECRET: optional(svixSecret),
  CLERK_SECRET_KEY: optional(z.string()),
  CLERK_API_URL: withDefault(z.url(), 'https://api.clerk.com'),

  EMAIL_PROVIDERS: optional(list(EMAIL_PROVIDER_NAMES)),
  SMS_PROVIDERS: optional(list(SMS_PROVIDER_NAMES)),
  EMAIL_FROM: optional(mailbox),
  EMAIL_FROM_DOMAIN: optional(z.string().regex(/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'must be a domain like acme.com')),
  EMAIL_FROM_NAME: optional(z.string()),

  RESEND_API_KEY: optional(z.string()),
  RESEND_WEBHOOK_SECRET: optional(svixSecret),
  RESEND_BASE_URL: withDefault(z.url(), 'https://api.resend.com'),
  AUTOSEND_API_KEY: optional(z.string()),
  AUTOSEND_WEBHOOK_SECRET: optional(z.string()),
  AUTOSEND_API_URL: withDefault(z.url(), 'https://api.autosend.com'),
  UNOSEND_API_KEY: optional(z.string()),
  UNOSEND_API_URL: withDefault(z.url(), 'https://www.unosend.co/api/v1'),
  // The relay's public base URL, for callbacks providers must call (Twilio's StatusCallback) and verify (its signature).
  PUBLIC_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' })),
  SMTP_URL: optional(z.url({ protocol: /^smtps?$/, error: 'must be smtp://user:pass@host:587 or smtps://user:pass@host:465' })),
  SMTP_POOL: withDefault(positiveInt, 5),
  SMTP_REQUIRE_TLS: bool('true'),
  SES_REGION: optional(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region like eu-west-1')),
  SES_CONFIGURATION_SET: optional(z.string()),
  SES_ENDPOINT: optional(z.url()),
  POSTMARK_SERVER_TOKEN: optional(z.string()),
  /** Only the doctor uses it: Postmark's domains are an account resource. */
  POSTMARK_ACCOUNT_TOKEN: optional(z.string()),
  POSTMARK_MESSAGE_STREAM: withDefault(z.string().min(1), 'outbound'),
  POSTMARK_API_URL: withDefault(z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' }), 'https://api.postmarkapp.com'),
  POSTMARK_WEBHOOK_USER: optional(z.string()),
  POSTMARK_WEBHOOK_PASSWORD: optional(z.string().min(16, 'must be at least 16 characters')),
  TWILIO_ACCOUNT_SID: optional(z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must look like AC followed by 32 hex digits')),
  TWILIO_AUTH_TOKEN: optional(z.string()),
  TWILIO_API_KEY: optional(z.string().regex(/^SK[0-9a-fA-F]{32}$/, 'must look like SK followed by 32 hex digits')),
  TWILIO_API_SECRET: optional(z.string()),
  TWILIO_FROM: optional(z.string()),
  TWILIO_MESSAGING_SERVICE_SID: optional(z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'must look like MG followed by 32 hex digits')),
  TWILIO_API_URL: optional(z.url()),

  OTP_MAX_AGE_SECONDS: withDefault(positiveInt, 600),
  // Unset: 5 minutes, or OTP_MAX_AGE_SECONDS if that is shorter (otp-max-age.ts).
  SMS_OTP_MAX_AGE_SECONDS: optional(positiveInt),
  PROVIDER_ATTEMPTS: withDefault(positiveInt, 3),
  PROVIDER_TIMEOUT_MS: withDefault(positiveInt, 10_000),
  PROVIDER_CIRCUIT_FAILURES: withDefault(positiveInt, 5),
  PROVIDER_CIRCUIT_OPEN_SECONDS: withDefault(positiveInt, 30),
  // The longest a provider's Retry-After (or rate-limit reset) may pause it: one bad header must not stop it for an hour.
  PROVIDER_MAX_PAUSE_SECONDS: withDefault(positiveInt, 60),
  // Unset: follow the rate the provider reports in its ratelimit-* headers (2/s until it does). Set: start at
  // this rate and never exceed it, whatever the headers say.
  RESEND_MAX_PER_SECOND: optional(z.coerce.number().positive()),
  // The most sends in flight per process; within it the relay keeps rate × latency in flight (providers/concurrency.ts).
  RESEND_CONCURRENCY: withDefault(positiveInt, 50),
  AUTOSEND_MAX_PER_SECOND: optional(z.coerce.number().positive()),
  AUTOSEND_CONCURRENCY: withDefault(positiveInt, 50),
  // Jobs each worker process runs at once, per queue. Sends: above the provider ceilings, so the ceilings and
  // the providers' rates, not the queue, bound what goes out (a job also holds its slot around its send).
  SEND_CONCURRENCY: withDefault(positiveInt, 100),
  EVENT_CONCURRENCY: withDefault(positiveInt, 10),
  WRITEBACK_CONCURRENCY: withDefault(positiveInt, 5),
  ALERT_WEBHOOK_URL: optional(z.url()),
  // Outbound event webhooks to private addresses (refused in production otherwise): see OutboundAllowList.
  // A default here would skip the transform, so unset becomes '' (an empty list) before it.
  OUTBOUND_WEBHOOK_ALLOWED_HOSTS: z.preprocess((v) => (typeof v === 'string' ? v : ''), outboundAllowList),
  // Deliverability: suppression expiry and the rate thresholds (percent of email sends).
  HARD_BOUNCE_SUPPRESSION_DAYS: withDefault(positiveInt, 90),
  ALERT_BOUNCE_WARN_PERCENT: withDefault(percent, 2),
  ALERT_BOUNCE_PAGE_PERCENT: withDefault(percent, 4),
  ALERT_COMPLAINT_WARN_PERCENT: withDefault(percent, 0.05),
  ALERT_COMPLAINT_PAGE_PERCENT: withDefault(percent, 0.08),
  ALERT_MIN_SENDS: withDefault(positiveInt, 100),
  RETENTION_DAYS: withDefault(positiveInt, 30),
  BODY_RETENTION_DAYS: withDefault(positiveInt, 7),

  API_KEYS: optional(z.string()),
  VERIFICATION_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
  SUPABASE_HOOK_SECRET: optional(
    z
      .string()
      .transform((s) => s.split(/\s+/).filter(Boolean))
      .pipe(z.array(z.string().regex(/^v1,whsec_[A-Za-z0-9+/=]+$/, 'each secret must look like v1,whsec_<base64>')).min(1)),
  ),

  // Verification codes and the messages auth-relay renders itself (verification, Supabase hooks).
  APP_NAME: optional(z.string().min(1)),
  TEMPLATES_DIR: optional(z.string()),
  VERIFICATION_CODE_LENGTH: withDefault(z.coerce.number().int().min(4).max(10), 6),
  VERIFICATION_EXPIRY: optional(verificationExpiry),
  VERIFICATION_MAX_ATTEMPTS: withDefault(positiveInt, 5),
  VERIFICATION_RESEND_COOLDOWN_SECONDS: withDefault(z.coerce.number().int().min(0), 60),
  VERIFICATION_LIMIT_PER_HOUR: withDefault(positiveInt, 3),
  VERIFICATION_LIMIT_PER_DAY: withDefault(positiveInt, 10),
  VERIFICATION_LIMIT_PER_IP_HOUR: withDefault(positiveInt, 20),
  VERIFICATION_CHECK_LIMIT_PER_IP_HOUR: withDefault(positiveInt, 30),
});

export type RawEnv = z.infer<typeof EnvSchema>;

export type Config = Omit<RawEnv, 'EMAIL_PROVIDERS' | 'SMS_PROVIDERS'> & {
  EMAIL_PROVIDERS: EmailProviderName[];
  SMS_PROVIDERS: SmsProviderName[];
};

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const providerKeys: Record<string, keyof RawEnv | undefined> = {
  resend: 'RESEND_API_KEY',
  autosend: 'AUTOSEND_API_KEY',
  unosend: 'UNOSEND_API_KEY',
  smtp: 'SMTP_URL',
  twilio: 'TWILIO_ACCOUNT_SID',
  ses: 'SES_REGION',
  postmark: 'POSTMARK_SERVER_TOKEN',
  outbox: undefined,
};

/** What `twilio` in SMS_PROVIDERS needs besides its account SID: a credential and a sender. */
function twilioIssues(raw: RawEnv): string[] {
  const issues: string[] = [];
  if (!raw.TWILIO_AUTH_TOKEN && !(raw.TWILIO_API_KEY && raw.TWILIO_API_SECRET)) {
    issues.push('SMS_PROVIDERS: "twilio" is listed but neither TWILIO_AUTH_TOKEN nor TWILIO_API_KEY + TWILIO_API_SECRET is set');
  }
  if (!raw.TWILIO_FROM && !raw.TWILIO_MESSAGING_SERVICE_SID) {
    issues.push('SMS_PROVIDERS: "twilio" is listed but neither TWILIO_FROM nor TWILIO_MESSAGING_SERVICE_SID is set');
  }
  return issues;
}

/** Parses the environment once; every problem is reported with the variable that causes it. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const raw = parsed.data;
  const emailProviders: EmailProviderName[] =
    raw.EMAIL_PROVIDERS ??
    (() => {
      const withKeys = (['resend', 'autosend'] as const).filter((p) => raw[providerKeys[p]!]);
      return withKeys.length > 0 ? [...withKeys] : ['outbox'];
    })();
  const smsProviders: SmsProviderName[] = raw.SMS_PROVIDERS ?? (raw.UNOSEND_API_KEY ? ['unosend'] : ['outbox']);

  const issues: string[] = [];
  for (const [variable, names] of [
    ['EMAIL_PROVIDERS', emailProviders],
    ['SMS_PROVIDERS', smsProviders],
  ] as const) {
    if (new Set(names).size !== names.length) issues.push(`${variable}: lists a provider twice`);
    for (const name of names) {
      const key = providerKeys[name];
      if (key && !raw[key]) issues.push(`${variable}: "${name}" is listed but ${key} is not set`);
      if (name === 'outbox' && raw.NODE_ENV === 'production') {
        issues.push(`${variable}: the outbox provider sends nothing and is refused when NODE_ENV=production`);
      }
    }
  }
  // Every email needs a From (from-address.ts): without one each would fail later with missing_from.
  if (raw.NODE_ENV === 'production' && emailProviders.some((p) => p !== 'outbox') && !raw.EMAIL_FROM && !raw.EMAIL_FROM_DOMAIN) {
    issues.push(
      'EMAIL_FROM: set EMAIL_FROM ("Acme <auth@acme.com>") or EMAIL_FROM_DOMAIN: without a From address every email fails (missing_from)',
    );
  }
  if (smsProviders.includes('twilio')) issues.push(...twilioIssues(raw));
  for (const metric of ['BOUNCE', 'COMPLAINT'] as const) {
    if (raw[`ALERT_${metric}_WARN_PERCENT`] >= raw[`ALERT_${metric}_PAGE_PERCENT`]) {
      issues.push(`ALERT_${metric}_WARN_PERCENT: must be below ALERT_${metric}_PAGE_PERCENT`);
    }
  }
  if (raw.REDIS_MODE === 'standalone' && raw.REDIS_URL.includes(',')) {
    issues.push('REDIS_URL: lists several nodes; set REDIS_MODE=cluster or REDIS_MODE=sentinel');
  }
  if (raw.REDIS_MODE === 'sentinel' && !raw.REDIS_SENTINEL_MASTER)
    issues.push('REDIS_SENTINEL_MASTER: must be set when REDIS_MODE=sentinel');
  if (issues.length > 0) throw new ConfigError(issues);
  return { ...raw, EMAIL_PROVIDERS: emailProviders, SMS_PROVIDERS: smsProviders };
}
