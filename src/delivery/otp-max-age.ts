import type { Config } from '../config/env';

/** How long a code-bearing message may wait to be sent: SMS codes are short-lived (a phone is at hand). */
export function otpMaxAgeSeconds(
  config: Pick<Config, 'OTP_MAX_AGE_SECONDS' | 'SMS_OTP_MAX_AGE_SECONDS'>,
  channel: 'email' | 'sms',
): number {
  return channel === 'sms' ? config.SMS_OTP_MAX_AGE_SECONDS : config.OTP_MAX_AGE_SECONDS;
}
