import type { z } from 'zod';
import { ValidationError } from './errors';

/** Deeper than any payload a sender documents: what walks one (redaction, storing it) stays well within the stack. */
export const MAX_JSON_DEPTH = 64;

/** How deep the JSON text nests (brackets outside strings), counted without building anything. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return deepest;
}

/** A signed body that is not JSON, or nests absurdly deep, is the sender's mistake (422), never a crash. */
export function parseJsonBody(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ValidationError('Body is not valid JSON');
  }
  if (nestingDepth(text) > MAX_JSON_DEPTH) throw new ValidationError(`Body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  return body;
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
