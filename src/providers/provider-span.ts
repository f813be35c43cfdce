import { SpanKind, type Attributes } from '@opentelemetry/api';
import { ATTR_HTTP_RESPONSE_STATUS_CODE, withSpan } from '../lib/tracing';
import type { ProviderOutcome } from './types';

/** How a provider request ended: the outcome the delivery service acts on, and the provider's status and code. */
function outcomeAttributes(outcome: ProviderOutcome): Attributes {
  if (outcome.kind === 'sent') return { 'auth_relay.outcome': 'sent' };
  return {
    'auth_relay.outcome': outcome.kind,
    ...(outcome.status ? { [ATTR_HTTP_RESPONSE_STATUS_CODE]: outcome.status } : {}),
    ...(outcome.code ? { 'auth_relay.provider_error_code': outcome.code } : {}),
  };
}

/**
 * One provider request as a client span of the send job's trace: the provider, the outcome, and the HTTP
 * status when the provider answered with an error (the SDKs do not expose a success's status).
 */
export function tracedSend(provider: string, send: () => Promise<ProviderOutcome>): Promise<ProviderOutcome> {
  return withSpan(`${provider} send`, { kind: SpanKind.CLIENT, attributes: { 'auth_relay.provider': provider } }, async (span) => {
    try {
      const outcome = await send();
      span.setAttributes(outcomeAttributes(outcome));
      return outcome;
    } catch (err) {
      // An adapter returns its failures as outcomes; a throw is ours (a bug, Redis), not the provider's.
      span.setAttribute('auth_relay.outcome', 'error');
      throw err;
    }
  });
}
