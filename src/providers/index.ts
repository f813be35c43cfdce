import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import { createAutosendProvider } from './autosend/autosend-provider';
import { createOutbox } from './outbox';
import type { ProviderLimits } from './provider-health';
import { createResendProvider } from './resend/resend-provider';
import type { EmailProvider, ProviderChains, SmsProvider } from './types';
import { createUnosendProvider } from './unosend/unosend-provider';

export interface ProviderFactoryDeps {
  config: Config;
  db: Db;
}

/** Builds each channel's ordered failover chain from EMAIL_PROVIDERS / SMS_PROVIDERS. */
export function createProviderChains({ config, db }: ProviderFactoryDeps): ProviderChains {
  const outbox = createOutbox(db);
  const email = config.EMAIL_PROVIDERS.map((name): EmailProvider => {
    switch (name) {
      case 'outbox':
        return outbox.email;
      case 'resend':
        return createResendProvider({
          apiKey: config.RESEND_API_KEY!,
          baseUrl: config.RESEND_BASE_URL,
          timeoutMs: config.PROVIDER_TIMEOUT_MS,
        });
      case 'autosend':
        return createAutosendProvider({
          apiKey: config.AUTOSEND_API_KEY!,
          apiUrl: config.AUTOSEND_API_URL,
          timeoutMs: config.PROVIDER_TIMEOUT_MS,
        });
      default:
        throw new Error(`EMAIL_PROVIDERS: provider "${name}" is not available in this build`);
    }
  });
  const sms = config.SMS_PROVIDERS.map((name): SmsProvider => {
    switch (name) {
      case 'outbox':
        return outbox.sms;
      case 'unosend':
        return createUnosendProvider({ apiKey: config.UNOSEND_API_KEY!, apiUrl: config.UNOSEND_API_URL });
      default:
        throw new Error(`SMS_PROVIDERS: provider "${name}" is not available in this build`);
    }
  });
  return { email, sms };
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
