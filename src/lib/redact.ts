export const REDACTED = '[redacted]';

/** Replaces every occurrence of the known secrets (codes, magic links) in a text. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * For code-bearing messages whose code we were not told (Clerk's `sms.created` carries only the rendered
 * text), any run of 4–8 digits is treated as the code.
 */
export function redactDigitRuns(text: string): string {
  return text.replace(/(?<![\d])\d{4,8}(?![\d])/g, REDACTED);
}
