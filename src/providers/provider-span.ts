import { SpanKind, type Attributes } from '@opentelemetry/api';
import { ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import { withSpan } from '../lib/tracing';
import { ProviderError } from './types';

/** How a provider request ended, in the words the delivery service acts on. */
function failureAttributes(err: unknown): Attributes {
  if (!(err instanceof ProviderError)) return { 'auth_relay.outcome': 'error' };
  const outcome = err.pending ? 'pending' : err.providerWide ? 'rate_limited' : err.failover ? 'failover' : err.class;
  return {
    'auth_relay.outcome': outcome,
    ...(err.status ? { [ATTR_HTTP_RESPONSE_STATUS_CODE]: err.status } : {}),
    ...(err.code ? { 'auth_relay.provider_error_code': err.code } : {}),
  };
}

/**
 * One provider request as a client span of the send job's trace: the provider, the outcome, and the HTTP
 * status when the provider answered with an error (the SDKs do not expose a success's status).
 */
export function tracedSend<T>(provider: string, send: () => Promise<T>): Promise<T> {
  return withSpan(`${provider} send`, { kind: SpanKind.CLIENT, attributes: { 'auth_relay.provider': provider } }, async (span) => {
    try {
      const value = await send();
      span.setAttribute('auth_relay.outcome', 'sent');
      return value;
    } catch (err) {
      span.setAttributes(failureAttributes(err));
      throw err;
    }
  });
}
