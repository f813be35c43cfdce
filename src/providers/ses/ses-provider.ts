import type * as SesSdk from '@aws-sdk/client-sesv2';
import { acceptedWithoutId, classifyFailure, describeFetchError, missingApiKeyError, missingFromError, refused } from '../error-policy';
import type { EmailProvider, OutgoingEmail, ProviderFailure, ProviderOutcome, WebhookParser } from '../types';
import { createSnsWebhookParser, type FetchText } from './sns-webhook';

export interface SesProviderOptions {
  /** SES_REGION; credentials come from the standard AWS chain (environment, profile, instance role). */
  region?: string;
  configurationSet?: string;
  /** SES_ENDPOINT: a local fake in tests. */
  endpoint?: string;
  timeoutMs: number;
  /** How the SNS webhook fetches signing certificates and confirms subscriptions (https, amazonaws.com only). */
  fetchText: FetchText;
}

/** SES error names (SESv2 API reference) the HTTP status would misclassify. */
const FAILOVER = new Set([
  'AccountSuspendedException', // the account may not send at all
  'SendingPausedException', // sending paused for the account or the configuration set (v1 called it AccountSendingPaused)
  'MailFromDomainNotVerifiedException',
  'NotFoundException', // the configuration set or identity does not exist in this region
]);

function classifySesError(sdk: typeof SesSdk, err: unknown, timedOut: boolean, timeoutMs: number): ProviderFailure {
  if (err instanceof sdk.SESv2ServiceException) {
    const status = err.$metadata.httpStatusCode ?? null;
    const call = {
      status,
      code: err.name,
      message: err.message,
      body: { name: err.name, message: err.message, request_id: err.$metadata.requestId ?? null },
    };
    if (FAILOVER.has(err.name)) return { kind: 'fail_over', message: err.message, status, code: err.name, raw: call.body };
    // LimitExceededException is the daily quota (not a rate): another provider can send now.
    if (err.name === 'LimitExceededException') return classifyFailure({ ...call, code: 'quota_exceeded' });
    // TooManyRequestsException (429) is the per-second rate: rate_limited, provider-wide.
    return classifyFailure(call);
  }
  return classifyFailure({ status: null, message: timedOut ? `no answer within ${timeoutMs} ms` : describeFetchError(err), timedOut });
}

/**
 * Amazon SES through `@aws-sdk/client-sesv2` SendEmail, and `parseWebhook` for the SES events its
 * configuration set publishes to SNS. The SDK's own retries are off (maxAttempts 1): SES takes no
 * idempotency key, so a retry the delivery service cannot see could send a second code.
 */
export function createSesProvider(options: SesProviderOptions): EmailProvider & WebhookParser {
  // The SDK (a large module tree) is loaded only when SES is configured: an idle API process does not carry it.
  const sdk = options.region ? (require('@aws-sdk/client-sesv2') as typeof SesSdk) : null;
  const client =
    sdk && options.region
      ? new sdk.SESv2Client({ region: options.region, maxAttempts: 1, ...(options.endpoint ? { endpoint: options.endpoint } : {}) })
      : null;
  const webhook = createSnsWebhookParser({ fetchText: options.fetchText });

  async function send(message: OutgoingEmail): Promise<ProviderOutcome> {
    if (!sdk || !client) return missingApiKeyError('SES_REGION');
    if (!message.from) return missingFromError();
    if (message.html === undefined && message.text === undefined) {
      return refused('the message has neither an HTML nor a text body', 'empty_body');
    }
    const signal = AbortSignal.timeout(options.timeoutMs);
    let messageId: string | undefined;
    try {
      ({ MessageId: messageId } = await client.send(
        new sdk.SendEmailCommand({
          FromEmailAddress: message.from,
          Destination: { ToAddresses: [message.to] },
          ...(message.replyTo ? { ReplyToAddresses: [message.replyTo] } : {}),
          Content: {
            Simple: {
              Subject: { Data: message.subject, Charset: 'UTF-8' },
              Body: {
                ...(message.html !== undefined ? { Html: { Data: message.html, Charset: 'UTF-8' } } : {}),
                ...(message.text !== undefined ? { Text: { Data: message.text, Charset: 'UTF-8' } } : {}),
              },
              Headers: Object.entries(message.headers).map(([Name, Value]) => ({ Name, Value })),
            },
          },
          // SES tag values allow only [A-Za-z0-9_-]; ours are ids and template names. Events carry them back.
          EmailTags: message.tags.map(({ name, value }) => ({ Name: name, Value: value })),
          ...(options.configurationSet ? { ConfigurationSetName: options.configurationSet } : {}),
        }),
        { abortSignal: signal },
      ));
    } catch (err) {
      return classifySesError(sdk, err, signal.aborted, options.timeoutMs);
    }
    if (!messageId) return acceptedWithoutId('SES', null);
    return { kind: 'sent', providerMessageId: messageId };
  }

  return { name: 'ses', channel: 'email', send, parseWebhook: webhook.parseWebhook };
}
