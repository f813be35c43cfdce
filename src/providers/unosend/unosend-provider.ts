import { ProviderError, type OutgoingSms, type SendResult, type SmsProvider } from '../types';

/**
 * Unosend SMS (providers.md §7.1, free-text API): `POST {UNOSEND_API_URL}/sms` with a Bearer key. Plain
 * `fetch`: Unosend's SDK has no SMS method.
 */

export const E164 = /^\+[1-9]\d{6,14}$/;

/** Unosend splits longer bodies into segments up to this many characters in all. */
const MAX_BODY_CHARS = 1600;

export interface UnosendOptions {
  apiKey: string;
  apiUrl: string;
  /** A request that has not answered by then is abandoned and retried like a network error. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

interface UnosendSmsEntry {
  id?: unknown;
  status?: unknown;
  segments?: unknown;
  message_id?: unknown;
}

interface UnosendErrorBody {
  error?: { code?: unknown; message?: unknown; status?: unknown; details?: unknown };
  retry_after?: unknown;
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The docs show `data` both as a one-per-recipient array and as a single object; we send to one number. */
function firstEntry(body: unknown): UnosendSmsEntry | undefined {
  const data = (body as { data?: unknown } | null)?.data;
  const entry = Array.isArray(data) ? data[0] : data;
  return entry && typeof entry === 'object' ? (entry as UnosendSmsEntry) : undefined;
}

/**
 * What a failed answer means for the message (the lead folds this into the shared error policy):
 * - 429 is Unosend limiting the whole account: transient, after Retry-After (header, else body `retry_after`);
 * - 5xx and 408: transient;
 * - 401/402/403 are the account's, not the message's (bad key, empty wallet, key scope): another provider
 *   can still deliver, so fail over;
 * - any other 4xx (validation, unknown number format): permanent for this message.
 */
export function classifyUnosendError(status: number, body: unknown, retryAfterHeader: string | null, now: number): ProviderError {
  const parsed = (body && typeof body === 'object' ? body : {}) as UnosendErrorBody;
  const code = typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
  const detail = typeof parsed.error?.message === 'string' ? parsed.error.message : `HTTP ${status}`;
  const message = `Unosend answered ${status}${code ? ` ${code}` : ''}: ${detail}`;
  const raw = body ?? null;
  if (status === 429) {
    const fromBody = typeof parsed.retry_after === 'number' ? parsed.retry_after * 1000 : undefined;
    return new ProviderError(message, {
      class: 'transient',
      providerWide: true,
      retryAfterMs: parseRetryAfter(retryAfterHeader, now) ?? fromBody,
      status,
      code: code ?? 'rate_limit_exceeded',
      raw,
    });
  }
  if (status >= 500 || status === 408) return new ProviderError(message, { class: 'transient', status, code, raw });
  if (status === 401 || status === 402 || status === 403) {
    return new ProviderError(message, { class: 'permanent', failover: true, status, code, raw });
  }
  return new ProviderError(message, { class: 'permanent', status, code, raw });
}

export function createUnosendProvider(options: UnosendOptions): SmsProvider {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const endpoint = `${options.apiUrl.replace(/\/+$/, '')}/sms`;

  async function send(message: OutgoingSms): Promise<SendResult> {
    if (!E164.test(message.to)) {
      throw new ProviderError(`"${message.to}" is not an E.164 phone number`, { class: 'permanent', code: 'invalid_recipient' });
    }
    if (message.body.length > MAX_BODY_CHARS) {
      throw new ProviderError(`SMS body is ${message.body.length} characters; Unosend takes at most ${MAX_BODY_CHARS}`, {
        class: 'permanent',
        code: 'body_too_long',
      });
    }

    let response: Response;
    try {
      response = await doFetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ to: message.to, body: message.body, metadata: { message_id: message.messageId } }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      throw new ProviderError(timedOut ? `Unosend did not answer within ${timeoutMs} ms` : `Unosend unreachable: ${(err as Error).message}`, {
        class: 'transient',
        code: timedOut ? 'timeout' : 'network_error',
        status: null,
      });
    }

    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text.slice(0, 500);
    }
    if (!response.ok) throw classifyUnosendError(response.status, body, response.headers.get('retry-after'), now());

    const entry = firstEntry(body);
    if (typeof entry?.id !== 'string' || entry.id === '') {
      // Accepted (2xx) but unreadable: the SMS is probably on its way, and sending again would double it.
      return { providerMessageId: `unosend-unknown:${message.messageId}`, detail: { warning: 'Unosend answered 2xx without an id', raw: body ?? null } };
    }
    return {
      providerMessageId: entry.id,
      detail: {
        status: typeof entry.status === 'string' ? entry.status : null,
        segments: typeof entry.segments === 'number' ? entry.segments : null,
      },
    };
  }

  return { name: 'unosend', channel: 'sms', send };
}
