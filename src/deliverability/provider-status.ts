import { GetAccountCommand, GetEmailIdentityCommand, type GetEmailIdentityCommandOutput, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { AccountClient, ServerClient } from 'postmark';
import { mailboxAddress, normalizeEmail } from '../lib/recipient';

/**
 * What the email providers themselves say about a sending domain, beside what DNS says: SES's identity
 * verification and account state, Postmark's server, message stream and (with an account token) domain.
 * `unverified` and `missing` mean something required is not in place (exit 1, like a domain Resend has not
 * verified); `error` means the provider could not be asked (exit 3); `skipped` is reported and does not fail.
 */
export interface ProviderCheck {
  provider: 'ses' | 'postmark';
  check: string;
  status: 'ok' | 'unverified' | 'missing' | 'error' | 'skipped';
  detail: string;
}

/** One provider's checks for a domain; never throws (a failed call is an `error` check). */
export type ProviderStatusSource = (domain: string) => Promise<ProviderCheck[]>;

const failed = (err: unknown): string => {
  const { name, message, code } = err as { name?: string; message?: string; code?: number };
  return `${code !== undefined ? `ErrorCode ${code}` : (name ?? 'Error')}: ${message ?? String(err)}`;
};

function sesIdentityChecks(identity: string, out: GetEmailIdentityCommandOutput): ProviderCheck[] {
  const check = (name: string, ok: boolean, detail: string): ProviderCheck => ({
    provider: 'ses',
    check: name,
    status: ok ? 'ok' : 'unverified',
    detail,
  });
  const checks = [
    check(
      'SES identity',
      out.VerifiedForSendingStatus === true,
      `${identity} (${out.IdentityType ?? 'identity'}): ${out.VerificationStatus ?? 'unknown'}`,
    ),
  ];
  const dkim = out.DkimAttributes;
  if (out.IdentityType !== 'EMAIL_ADDRESS' && dkim) {
    const tokens = dkim.Tokens ?? [];
    const publish =
      dkim.Status === 'SUCCESS' || tokens.length === 0
        ? ''
        : `; publish ${tokens.map((t) => `CNAME ${t}._domainkey.${identity} → ${t}.dkim.amazonses.com`).join(', ')}`;
    checks.push(
      check(
        'SES DKIM',
        dkim.Status === 'SUCCESS',
        `${dkim.Status ?? 'unknown'}${dkim.SigningEnabled === false ? ', signing disabled' : ''}${publish}`,
      ),
    );
  }
  const mailFrom = out.MailFromAttributes;
  if (mailFrom?.MailFromDomain) {
    checks.push(
      check(
        'SES MAIL FROM',
        mailFrom.MailFromDomainStatus === 'SUCCESS',
        `${mailFrom.MailFromDomain}: ${mailFrom.MailFromDomainStatus ?? 'unknown'}`,
      ),
    );
  }
  return checks;
}

/**
 * SES through SESv2 GetEmailIdentity (the domain, or the From address when only the address is an identity)
 * and GetAccount (sending enabled, out of the sandbox: in the sandbox SES only sends to verified recipients).
 */
export function sesStatus(client: SESv2Client, from?: string): ProviderStatusSource {
  // EMAIL_FROM may be `Acme <auth@acme.com>`: the identity is the address.
  const fromAddress = from ? normalizeEmail(mailboxAddress(from)) : undefined;
  async function identity(domain: string): Promise<ProviderCheck[]> {
    const candidates = [domain, ...(fromAddress?.endsWith(`@${domain}`) ? [fromAddress] : [])];
    for (const name of candidates) {
      try {
        return sesIdentityChecks(name, await client.send(new GetEmailIdentityCommand({ EmailIdentity: name })));
      } catch (err) {
        if ((err as Error).name !== 'NotFoundException')
          return [{ provider: 'ses', check: 'SES identity', status: 'error', detail: failed(err) }];
      }
    }
    return [
      {
        provider: 'ses',
        check: 'SES identity',
        status: 'missing',
        detail: `${candidates.join(' nor ')} is not an SES identity in this region`,
      },
    ];
  }
  async function account(): Promise<ProviderCheck> {
    try {
      const out = await client.send(new GetAccountCommand({}));
      if (out.SendingEnabled === false)
        return {
          provider: 'ses',
          check: 'SES account',
          status: 'unverified',
          detail: `sending is paused (${out.EnforcementStatus ?? 'unknown'})`,
        };
      if (out.ProductionAccessEnabled === false)
        return {
          provider: 'ses',
          check: 'SES account',
          status: 'unverified',
          detail: 'in the sandbox: SES sends only to verified recipients; request production access',
        };
      return {
        provider: 'ses',
        check: 'SES account',
        status: 'ok',
        detail: `sending enabled, ${out.SendQuota?.Max24HourSend ?? '?'} per 24 h, ${out.SendQuota?.MaxSendRate ?? '?'}/s`,
      };
    } catch (err) {
      return { provider: 'ses', check: 'SES account', status: 'error', detail: failed(err) };
    }
  }
  return async (domain) => [...(await identity(domain)), await account()];
}

/** Postmark's "message stream not found" API error (a 422). */
const STREAM_NOT_FOUND = 1226;

export interface PostmarkStatusOptions {
  server: ServerClient;
  messageStream: string;
  /** From POSTMARK_ACCOUNT_TOKEN: domains are an account resource the server token cannot read. */
  account?: AccountClient;
}

/** Postmark: the server token's server and message stream, and with an account token the domain's DKIM and Return-Path. */
export function postmarkStatus({ server, messageStream, account }: PostmarkStatusOptions): ProviderStatusSource {
  const pm = (check: string, status: ProviderCheck['status'], detail: string): ProviderCheck => ({
    provider: 'postmark',
    check,
    status,
    detail,
  });
  async function stream(): Promise<ProviderCheck[]> {
    try {
      const info = await server.getServer();
      const s = await server.getMessageStream(messageStream);
      if (s.ArchivedAt)
        return [pm('Postmark stream', 'unverified', `${messageStream} on server "${info.Name}" was archived at ${s.ArchivedAt}`)];
      if (s.MessageStreamType !== 'Transactional')
        return [
          pm('Postmark stream', 'unverified', `${messageStream} is a ${s.MessageStreamType} stream; codes belong on a Transactional one`),
        ];
      return [pm('Postmark stream', 'ok', `${messageStream} (Transactional) on server "${info.Name}"`)];
    } catch (err) {
      if ((err as { code?: number }).code === STREAM_NOT_FOUND)
        return [pm('Postmark stream', 'missing', `no message stream "${messageStream}" on this server (POSTMARK_MESSAGE_STREAM)`)];
      return [pm('Postmark stream', 'error', failed(err))];
    }
  }
  async function domainChecks(domain: string): Promise<ProviderCheck[]> {
    if (!account)
      return [pm('Postmark domain', 'skipped', 'set POSTMARK_ACCOUNT_TOKEN to check the domain (the server token cannot read domains)')];
    try {
      const count = 500;
      let found: { ID: number } | undefined;
      for (let offset = 0; !found; offset += count) {
        const page = await account.getDomains({ count, offset });
        found = page.Domains.find((d) => d.Name.toLowerCase() === domain);
        if (page.Domains.length < count) break;
      }
      if (!found) return [pm('Postmark domain', 'missing', `${domain} is not a Postmark domain of this account`)];
      const d = await account.getDomain(found.ID);
      return [
        pm(
          'Postmark DKIM',
          d.DKIMVerified ? 'ok' : 'unverified',
          d.DKIMVerified
            ? d.DKIMHost
            : `publish TXT ${d.DKIMPendingHost || d.DKIMHost} ${JSON.stringify(d.DKIMPendingTextValue || d.DKIMTextValue)}`,
        ),
        pm(
          'Postmark Return-Path',
          d.ReturnPathDomainVerified ? 'ok' : 'unverified',
          d.ReturnPathDomainVerified
            ? d.ReturnPathDomain
            : `publish CNAME ${d.ReturnPathDomain || `pm-bounces.${domain}`} → ${d.ReturnPathDomainCNAMEValue}`,
        ),
      ];
    } catch (err) {
      return [pm('Postmark domain', 'error', failed(err))];
    }
  }
  return async (domain) => [...(await stream()), ...(await domainChecks(domain))];
}
