import { ValidationError } from './errors';

/** A signed body that is not JSON is the sender's mistake (422), never a crash. */
export function parseJsonBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationError('Body is not valid JSON');
  }
}
