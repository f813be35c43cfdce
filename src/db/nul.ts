/**
 * Postgres text and jsonb cannot hold U+0000: a value carrying one fails the whole statement it is written in.
 * Only strings inside arrays and plain objects are looked at (keys included); Dates and the like pass as they are.
 */
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value));

export function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(holdsNul);
  if (isPlainObject(value)) return Object.entries(value).some(([k, v]) => k.includes('\0') || holdsNul(v));
  return false;
}

/** The value with every U+0000 replaced by U+FFFD, for what we must store as it came (a provider's event). */
export function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\0', '\uFFFD') as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)])) as T;
  return value;
}
