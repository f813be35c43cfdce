import type { Config } from '../config/env';
import { singleLine, type EmailContent } from './content';

export type FromConfig = Pick<Config, 'EMAIL_FROM' | 'EMAIL_FROM_DOMAIN' | 'EMAIL_FROM_NAME'>;

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/;

function displayName(raw: string): string {
  // EMAIL_FROM_NAME included: a line break in it would start a header of its own.
  const name = singleLine(raw);
  // RFC 5322: a display name with specials must be a quoted string.
  return /^[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]+$/.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * EMAIL_FROM wins; otherwise Clerk's local part (`from_email_name`, default `noreply`) at EMAIL_FROM_DOMAIN,
 * named EMAIL_FROM_NAME or the app's name. Null when there is no usable address.
 */
export function resolveFrom(config: FromConfig, content: Pick<EmailContent, 'fromLocalPart' | 'appName'>): string | null {
  if (config.EMAIL_FROM) return config.EMAIL_FROM;
  if (!config.EMAIL_FROM_DOMAIN) return null;
  const local = content.fromLocalPart?.trim() || 'noreply';
  if (!LOCAL_PART.test(local)) return null;
  const address = `${local}@${config.EMAIL_FROM_DOMAIN}`;
  const name = config.EMAIL_FROM_NAME ?? content.appName;
  return name ? `${displayName(name)} <${address}>` : address;
}

export function resolveReplyTo(config: FromConfig, content: Pick<EmailContent, 'replyToLocalPart'>): string | undefined {
  const local = content.replyToLocalPart?.trim();
  if (!local || !config.EMAIL_FROM_DOMAIN || !LOCAL_PART.test(local)) return undefined;
  return `${local}@${config.EMAIL_FROM_DOMAIN}`;
}
