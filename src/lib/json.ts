import type { z } from 'zod';
import { ValidationError } from './errors';

/** A signed body that is not JSON is the sender's mistake (422), never a crash. */
export function parseJsonBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationError('Body is not valid JSON');
  }
}

/**
 * A sender's payload checked against its schema: a mismatch is a 422 naming each field (under `at`, the key
 * the value was read from), prefixed with `label` so the sender knows which of its payloads we mean.
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, label: string, at?: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${[...(at === undefined ? [] : [at]), ...i.path].join('.')}: ${i.message}`).join('; ');
    throw new ValidationError(`${label}: ${issues}`);
  }
  return result.data;
}
