import { REDACTED } from '../lib/redact';

/**
 * What we keep of a provider webhook body: everything but the subject (it carries the code) and clicked links
 * (a magic link is a credential).
 */
export function withoutSecrets(body: unknown): unknown {
  if (!body || typeof body !== 'object') return body;
  const { data, ...rest } = body as { data?: Record<string, unknown> };
  if (!data || typeof data !== 'object') return body;
  const { subject: _subject, click, ...kept } = data;
  return { ...rest, data: click && typeof click === 'object' ? { ...kept, click: { ...click, link: REDACTED } } : kept };
}
