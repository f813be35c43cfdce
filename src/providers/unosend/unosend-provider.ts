import { E164_NUMBER } from '../../lib/recipient';
import { classifyFailure, describeFetchError, missingApiKeyError, refused } from '../error-policy';
import type { OutgoingSms, ProviderOutcome, SmsProvider } from '../types';

/**
 * Unosend SMS (providers.md §7.1, free-text API): `POST {UNOSEND_API_URL}/sms` with a Bearer key. Plain
 * `fetch`: Unosend's SDK has no SMS method. Failures go through the shared error policy: its 429 limits the
 * whole account (paused, then retried after Retry-After or the body's `retry_after`); 401/402/403 are the
 * account's (bad key, empty wallet, key scope), so another provider may still deliver.
 */

/** Unosend splits longer bodies into segments up to this many characters in all. */
const MAX_BODY_CHARS = 1600;

export interface UnosendOptions {
  /** UNOSEND_API_KEY; config refuses `unosend` in SMS_PROVIDERS without it. */
  apiKey?: string;
  apiUrl: string;
  /** PROVIDER_TIMEOUT_MS: a request that has not answered by then is abandoned and retried like a network error. */
  timeoutMs: number;
}

interface UnosendSmsEntry {
  id?: unknown;
  status?: unknown;
  segments?: unknown;
  message_id?: unknown;
}

interface UnosendErrorBody {
  error?: { code?: unknown; message?: unknown };
}

/** The docs show `data` both as a one-per-recipient array and as a single object; we send to one number. */
function firstEntry(body: unknown): UnosendSmsEntry | undefined {
  const data = (body as { data?: unknown } | null)?.data;
  const entry = Array.isArray(data) ? data[0] : data;
  return entry && typeof entry === 'object' ? (entry as UnosendSmsEntry) : undefined;
}

export function createUnosendProvider(options: UnosendOptions): SmsProvider {
  const { timeoutMs } = options;
  const endpoint = `${options.apiUrl.replace(/\/+$/, '')}/sms`;

  async function send(message: OutgoingSms): Promise<ProviderOutcome> {
    const { apiKey } = options;
    if (!apiKey) return missingApiKeyError('UNOSEND_API_KEY');
    if (!E164_NUMBER.test(message.to)) {
      return refused(`"${message.to}" is not an E.164 phone number`, 'invalid_recipient');
    }
    if (message.body.length > MAX_BODY_CHARS) {
      return refused(`SMS body is ${message.body.length} characters; Unosend takes at most ${MAX_BODY_CHARS}`, 'body_too_long');
    }

    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ to: message.to, body: message.body, metadata: { message_id: message.messageId } }),
        signal,
      });
    } catch (err) {
      const timedOut = signal.aborted;
      return classifyFailure({ status: null, message: timedOut ? `no answer within ${timeoutMs} ms` : describeFetchError(err), timedOut });
    }

    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text.slice(0, 500);
    }
    if (!response.ok) {
      const error = (body as UnosendErrorBody | undefined)?.error;
      return classifyFailure({
        status: response.status,
        code: typeof error?.code === 'string' ? error.code : undefined,
        message: typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`,
        headers: response.headers,
        body: body ?? null,
      });
    }

    const entry = firstEntry(body);
    if (typeof entry?.id !== 'string' || entry.id === '') {
      // Accepted (2xx) but unreadable: the SMS is probably on its way, and sending again would double it.
      return {
        kind: 'sent',
        providerMessageId: `unosend-unknown:${message.messageId}`,
        detail: { warning: 'Unosend answered 2xx without an id', raw: body ?? null },
      };
    }
    return {
      kind: 'sent',
      providerMessageId: entry.id,
      detail: {
        status: typeof entry.status === 'string' ? entry.status : null,
        segments: typeof entry.segments === 'number' ? entry.segments : null,
      },
    };
  }

  return { name: 'unosend', channel: 'sms', send };
}
