import type { Config } from '../config/env';
import type { Db } from '../db/prisma';
import { createOutbox } from './outbox';
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
