import type { Config, EmailProviderName, SmsProviderName } from '../config/env';
import type { Db } from '../db/prisma';
import { createAutosendProvider } from './autosend/autosend-provider';
import { createOutbox } from './outbox';
import type { ProviderLimits } from './provider-health';
import { createPostmarkProvider } from './postmark/postmark-provider';
import { createResendProvider } from './resend/resend-provider';
import { createSesProvider } from './ses/ses-provider';
import { fetchHttpsText, type FetchText } from './ses/sns-webhook';
import { createSmtpProvider } from './smtp/smtp-provider';
import type { EmailProvider, ProviderChains, SmsProvider, WebhookProvider } from './types';
import { createTwilioProvider } from './twilio/twilio-provider';
import { createUnosendProvider } from './unosend/unosend-provider';

export interface ProviderFactoryDeps {
  config: Config;
  db: Db;
  /** Tests only: how the SNS webhook fetches certificates and subscription URLs (a certificate the test made). */
  snsFetchText?: FetchText;
}

export interface Providers {
  /** Each channel's ordered failover chain, from EMAIL_PROVIDERS / SMS_PROVIDERS. */
  chains: ProviderChains;
  /**
   * Every provider that reports delivery events, in a chain or not: a deployment may take a provider out of
   * EMAIL_PROVIDERS and still receive the events of what it sent earlier, or send through one whose webhook
   * it has not set up yet (its route then answers 503 naming the secret to set).
   */
  webhooks: WebhookProvider[];
  /** Closes what the adapters keep open (the SMTP connection pool). */
  close(): void;
}

/** Builds each provider's one adapter from config; the send chains and the webhook routes share them. */
export function createProviders({ config, db, snsFetchText }: ProviderFactoryDeps): Providers {
  const outbox = createOutbox(db);
  const resend = createResendProvider({
    apiKey: config.RESEND_API_KEY,
    baseUrl: config.RESEND_BASE_URL,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    webhookSecret: config.RESEND_WEBHOOK_SECRET,
  });
  const autosend = createAutosendProvider({
    apiKey: config.AUTOSEND_API_KEY,
    apiUrl: config.AUTOSEND_API_URL,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    webhookSecret: config.AUTOSEND_WEBHOOK_SECRET,
  });
  const unosend = createUnosendProvider({
    apiKey: config.UNOSEND_API_KEY,
    apiUrl: config.UNOSEND_API_URL,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
  });
  const smtp = createSmtpProvider({
    url: config.SMTP_URL,
    pool: config.SMTP_POOL,
    requireTls: config.SMTP_REQUIRE_TLS,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
  });
  const ses = createSesProvider({
    region: config.SES_REGION,
    configurationSet: config.SES_CONFIGURATION_SET,
    endpoint: config.SES_ENDPOINT,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    fetchText: snsFetchText ?? fetchHttpsText(config.PROVIDER_TIMEOUT_MS),
  });
  const postmark = createPostmarkProvider({
    serverToken: config.POSTMARK_SERVER_TOKEN,
    messageStream: config.POSTMARK_MESSAGE_STREAM,
    apiUrl: config.POSTMARK_API_URL,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    webhookUser: config.POSTMARK_WEBHOOK_USER,
    webhookPassword: config.POSTMARK_WEBHOOK_PASSWORD,
  });
  const email: Record<EmailProviderName, EmailProvider> = { resend, autosend, smtp, ses, postmark, outbox: outbox.email };
  const twilio = createTwilioProvider({
    accountSid: config.TWILIO_ACCOUNT_SID,
    authToken: config.TWILIO_AUTH_TOKEN,
    apiKey: config.TWILIO_API_KEY,
    apiSecret: config.TWILIO_API_SECRET,
    from: config.TWILIO_FROM,
    messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID,
    apiUrl: config.TWILIO_API_URL,
    publicUrl: config.PUBLIC_URL,
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
  });
  const sms: Record<SmsProviderName, SmsProvider> = { unosend, twilio, outbox: outbox.sms };
  return {
    chains: { email: config.EMAIL_PROVIDERS.map((name) => email[name]), sms: config.SMS_PROVIDERS.map((name) => sms[name]) },
    webhooks: [resend, autosend, ses, postmark, twilio],
    close: () => smtp.close(),
  };
}

/**
 * Rate and concurrency per provider. Until a provider reports its limit in `ratelimit-*` headers we go at
 * the configured ceiling, or else the lowest documented limit: Resend 2/s per team (its docs have said 2, 5
 * and 10), Autosend 2/s per key.
 */
export function providerLimits(config: Config): Record<string, ProviderLimits> {
  const limits = (maxPerSecond: number | undefined, concurrency: number): ProviderLimits => ({
    concurrency,
    maxPerSecond,
    defaultPerSecond: maxPerSecond ?? 2,
  });
  return {
    resend: limits(config.RESEND_MAX_PER_SECOND, config.RESEND_CONCURRENCY),
    autosend: limits(config.AUTOSEND_MAX_PER_SECOND, config.AUTOSEND_CONCURRENCY),
  };
}
