export const REDACTED = '[redacted]';

/** As templates write a value into HTML, so a secret is also found in its escaped form. */
export const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/**
 * Replaces every occurrence of the known secrets (codes, sign-in and invitation links) in a text, also as
 * they appear inside HTML (`&` as `&amp;`) and inside another URL (percent-encoded).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of new Set([secret, escapeHtml(secret), encodeURIComponent(secret)])) out = out.split(form).join(REDACTED);
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
