import type { Config } from '../config/env';
import type { RecipientChannel } from '../lib/recipient';

/** SMS codes are short-lived (the phone is at hand): by default they expire sooner than email ones. */
const DEFAULT_SMS_OTP_MAX_AGE_SECONDS = 300;

/**
 * How long a code-bearing message may wait to be sent. OTP_MAX_AGE_SECONDS covers every code; SMS codes get
 * SMS_OTP_MAX_AGE_SECONDS when set, else 5 minutes unless OTP_MAX_AGE_SECONDS is shorter still.
 */
export function otpMaxAgeSeconds(
  config: Pick<Config, 'OTP_MAX_AGE_SECONDS' | 'SMS_OTP_MAX_AGE_SECONDS'>,
  channel: RecipientChannel,
): number {
  if (channel === 'email') return config.OTP_MAX_AGE_SECONDS;
  return config.SMS_OTP_MAX_AGE_SECONDS ?? Math.min(DEFAULT_SMS_OTP_MAX_AGE_SECONDS, config.OTP_MAX_AGE_SECONDS);
}
