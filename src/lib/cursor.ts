import { ValidationError } from './errors';

/**
 * Opaque positions in listings ordered by (timestamp, id), newest or oldest first. `order` names the ordering
 * when one listing has several, so a cursor from one is refused by the other.
 */
export function encodeCursor(at: Date, id: string, order = ''): string {
  return Buffer.from(`${order ? `${order}|` : ''}${at.toISOString()}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string, order = ''): { at: Date; id: string } {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const [given, at, id] = parts.length === 3 ? parts : ['', ...parts];
  if (given !== order) throw new ValidationError('cursor: belongs to a listing with different parameters');
  const date = new Date(at ?? '');
  if (!id || Number.isNaN(date.getTime())) throw new ValidationError('cursor: not one this API returned');
  return { at: date, id };
}
