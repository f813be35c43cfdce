import { shortHash } from '../lib/ids';
import type { Logger } from '../lib/logger';
import type { EmailProvider, Provider, ProviderChains, ProviderFailure, SmsProvider } from '../providers/types';
import { enqueueClerkWriteback, type Queues } from '../queue/catalog';
import type { SuppressionService } from './suppressions';

export interface SendRefusalDeps {
  suppressions: Pick<SuppressionService, 'suppress'>;
  queues: Pick<Queues, 'clerkWriteback'>;
  log: Logger;
}

/**
 * Some providers refuse a recipient for good at send time rather than in a later webhook: an SMTP server's
 * `550 5.1.1`, Postmark's inactive recipient (406), a Twilio number that replied STOP (21610). The adapter
 * marks its `failed` outcome with `suppress`; this wraps every adapter of the chains so such a refusal
 * suppresses the recipient and, for email, tells Clerk, the way a webhook bounce or complaint does
 * (provider-events.ts). The outcome is then returned unchanged: the send path fails the message as before.
 */
export function suppressingSendRefusals<W extends Provider>(
  adapters: { chains: ProviderChains; webhooks: W[] },
  deps: SendRefusalDeps,
): { chains: ProviderChains; webhooks: W[] } {
  // One wrapper per adapter, so the chains and the webhook routes still share one object per provider.
  const wrapped = new Map<Provider, Provider>();
  const once = <P extends Provider>(provider: P): P => {
    if (!wrapped.has(provider)) wrapped.set(provider, wrap(provider as EmailProvider | SmsProvider, deps));
    return wrapped.get(provider) as P;
  };
  return {
    chains: { email: adapters.chains.email.map(once), sms: adapters.chains.sms.map(once) },
    webhooks: adapters.webhooks.map(once),
  };
}

function wrap<P extends EmailProvider | SmsProvider>(provider: P, deps: SendRefusalDeps): P {
  const send = async (message: Parameters<P['send']>[0]) => {
    const outcome = await (provider.send as (m: typeof message) => ReturnType<P['send']>)(message);
    if (outcome.kind === 'failed' && outcome.suppress) await suppressRefused(provider, message, outcome, deps);
    return outcome;
  };
  return { ...provider, send } as P;
}

async function suppressRefused(
  provider: Provider,
  message: { messageId: string; to: string },
  refusal: Extract<ProviderFailure, { kind: 'failed' }>,
  { suppressions, queues, log }: SendRefusalDeps,
): Promise<void> {
  const reason = refusal.suppress!;
  try {
    await suppressions.suppress({
      channel: provider.channel,
      recipient: message.to,
      reason,
      sourceMessageId: message.messageId,
      detail: { provider: provider.name, provider_code: refusal.code ?? null, description: refusal.message },
    });
    if (provider.channel === 'email') {
      await enqueueClerkWriteback(
        queues,
        { emailStatus: 'undeliverable', recipient: message.to, messageId: message.messageId, reason, at: new Date().toISOString() },
        `undeliverable-${shortHash(`${provider.name}:send:${message.messageId}`)}`,
      );
    }
  } catch (suppressError) {
    // The message still fails with the provider's reason; the next send to this recipient is refused again.
    log.warn(
      { provider: provider.name, message_id: message.messageId, err: String(suppressError) },
      'could not suppress a recipient the provider refused',
    );
  }
}
