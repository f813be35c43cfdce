import type { Resend } from 'resend';
import type { ProviderCheck, ProviderStatusSource } from './provider-status';

/**
 * The domain doctor: is a sending domain ready for Resend? Checks in DNS the records Resend needs (DKIM at
 * the provider's selector, SPF and the return-path MX on `send.<domain>`) and DMARC, which Gmail and Yahoo
 * require of bulk senders (anchors.md (c)). With a Resend API key it checks exactly the records Resend
 * returns for the domain, and its verification status; without one, Resend's default layout.
 */

export interface DnsResolver {
  resolveTxt(hostname: string): Promise<string[][]>;
  resolveMx(hostname: string): Promise<{ exchange: string; priority: number }[]>;
  resolveCname(hostname: string): Promise<string[]>;
}

export type ResendDomains = Pick<Resend['domains'], 'list' | 'get' | 'create' | 'verify'>;

export type RecordType = 'TXT' | 'MX' | 'CNAME';

export interface ExpectedRecord {
  check: string;
  type: RecordType;
  /** Fully qualified. */
  name: string;
  /** What to publish; null when only the provider can say (the DKIM key without an API key). */
  value: string | null;
  priority?: number;
  required: boolean;
}

export interface CheckResult extends ExpectedRecord {
  status: 'ok' | 'missing' | 'mismatch' | 'error';
  found: string[];
  note?: string;
}

export interface DoctorReport {
  domain: string;
  resend: { id: string; status: string; region: string } | null;
  checks: CheckResult[];
  /** What SES and Postmark, when configured, say about the domain. */
  providers: ProviderCheck[];
  /** Every required record is in place (and Resend, SES and Postmark, when asked, say verified). */
  ok: boolean;
}

export class DoctorError extends Error {
  /** True when the error itself means something required is missing (the domain is not in Resend). */
  constructor(
    message: string,
    readonly missing = false,
  ) {
    super(message);
  }
}

const DNS_ABSENT = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);
const clean = (s: string): string => s.trim().toLowerCase().replace(/\.$/, '');
const squash = (s: string): string => s.replace(/\s+/g, '').replace(/^"|"$/g, '');

export const RESEND_DKIM_SELECTOR = 'resend._domainkey';
export const RETURN_PATH_SUBDOMAIN = 'send';

function fqdn(name: string, domain: string): string {
  const n = clean(name);
  if (n === '' || n === '@' || n === domain) return domain;
  return n.endsWith(`.${domain}`) ? n : `${n}.${domain}`;
}

/** Resend's layout when we cannot ask Resend: the DKIM key itself is only known to Resend. */
export function defaultRecords(domain: string): ExpectedRecord[] {
  const returnPath = `${RETURN_PATH_SUBDOMAIN}.${domain}`;
  return [
    { check: 'DKIM', type: 'TXT', name: `${RESEND_DKIM_SELECTOR}.${domain}`, value: null, required: true },
    { check: 'SPF', type: 'TXT', name: returnPath, value: 'v=spf1 include:amazonses.com ~all', required: true },
    { check: 'Return-path MX', type: 'MX', name: returnPath, value: 'feedback-smtp.us-east-1.amazonses.com', priority: 10, required: true },
  ];
}

export function dmarcRecord(domain: string): ExpectedRecord {
  return { check: 'DMARC', type: 'TXT', name: `_dmarc.${domain}`, value: `v=DMARC1; p=none; rua=mailto:dmarc@${domain}`, required: true };
}

type ResendRecord = { record: string; name: string; type: string; value: string; priority?: number };

/** Resend's records for the domain, as checks: sending records are required, tracking/receiving are not. */
export function recordsFromResend(domain: string, records: ResendRecord[]): ExpectedRecord[] {
  return records
    .filter((r): r is ResendRecord & { type: RecordType } => r.type === 'TXT' || r.type === 'MX' || r.type === 'CNAME')
    .map((r) => ({
      check: r.record === 'SPF' && r.type === 'MX' ? 'Return-path MX' : r.record,
      type: r.type,
      name: fqdn(r.name, domain),
      value: r.value,
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      required: r.record === 'SPF' || r.record === 'DKIM',
    }));
}

async function lookup(resolver: DnsResolver, type: RecordType, name: string): Promise<string[]> {
  try {
    if (type === 'TXT') return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
    if (type === 'MX') return (await resolver.resolveMx(name)).map((mx) => clean(mx.exchange));
    return (await resolver.resolveCname(name)).map(clean);
  } catch (err) {
    if (DNS_ABSENT.has((err as { code?: string }).code ?? '')) return [];
    throw err;
  }
}

function judge(expected: ExpectedRecord, found: string[]): Pick<CheckResult, 'status' | 'note'> {
  if (found.length === 0) return { status: 'missing' };
  switch (expected.check) {
    case 'SPF': {
      if (expected.type !== 'TXT') break;
      const spf = found.filter((r) => r.toLowerCase().startsWith('v=spf1'));
      if (spf.length === 0) return { status: 'missing' };
      if (spf.length > 1) return { status: 'mismatch', note: 'more than one SPF record: receivers treat that as an error; merge them' };
      const includes = (expected.value ?? '').split(/\s+/).filter((m) => m.startsWith('include:'));
      const missing = includes.filter((m) => !spf[0]!.toLowerCase().split(/\s+/).includes(m.toLowerCase()));
      return missing.length ? { status: 'mismatch', note: `SPF lacks ${missing.join(' ')}` } : { status: 'ok' };
    }
    case 'DMARC': {
      const dmarc = found.find((r) => r.replace(/\s/g, '').toLowerCase().startsWith('v=dmarc1'));
      if (!dmarc) return { status: 'missing' };
      const policy = /(?:^|;)\s*p\s*=\s*(\w+)/i.exec(dmarc)?.[1]?.toLowerCase();
      if (!policy) return { status: 'mismatch', note: 'DMARC record has no p= policy' };
      return {
        status: 'ok',
        ...(policy === 'none' ? { note: 'p=none: monitoring only; move to quarantine once reports show DKIM/SPF pass' } : {}),
      };
    }
    case 'Return-path MX':
      if (expected.value && found.includes(clean(expected.value))) return { status: 'ok' };
      // Without Resend's answer the region is unknown: any of Amazon SES's feedback hosts will do.
      if (found.some((mx) => /^feedback-smtp\.[a-z0-9-]+\.amazonses\.com$/.test(mx))) {
        return expected.value && !expected.value.includes('us-east-1')
          ? { status: 'mismatch', note: `expected ${expected.value}` }
          : { status: 'ok' };
      }
      return { status: 'mismatch' };
  }
  if (expected.value === null) {
    // The DKIM key is only known to Resend: any DKIM public key at the selector passes.
    return found.some((r) => /(^|;)\s*p=\S+/.test(r))
      ? { status: 'ok', note: 'key not compared (no RESEND_API_KEY)' }
      : { status: 'mismatch' };
  }
  if (expected.type === 'CNAME') return found.includes(clean(expected.value)) ? { status: 'ok' } : { status: 'mismatch' };
  return found.some((r) => squash(r) === squash(expected.value!) || squash(r).includes(squash(expected.value!)))
    ? { status: 'ok' }
    : { status: 'mismatch' };
}

export async function checkRecords(resolver: DnsResolver, records: ExpectedRecord[]): Promise<CheckResult[]> {
  return Promise.all(
    records.map(async (expected): Promise<CheckResult> => {
      try {
        const found = await lookup(resolver, expected.type, expected.name);
        return { ...expected, found, ...judge(expected, found) };
      } catch (err) {
        return { ...expected, found: [], status: 'error', note: `DNS lookup failed: ${(err as Error).message}` };
      }
    }),
  );
}

async function resendCall<T>(what: string, call: Promise<{ data: T | null; error: { message: string } | null }>): Promise<T> {
  const { data, error } = await call;
  if (error || !data) throw new DoctorError(`Resend ${what} failed: ${error?.message ?? 'empty answer'}`);
  return data;
}

export async function findResendDomain(resend: ResendDomains, domain: string): Promise<{ id: string } | null> {
  let after: string | undefined;
  for (;;) {
    const page = await resendCall('domains.list', resend.list({ limit: 100, ...(after ? { after } : {}) }));
    const match = page.data.find((d) => clean(d.name) === domain);
    if (match) return { id: match.id };
    if (!page.has_more || page.data.length === 0) return null;
    after = page.data[page.data.length - 1]!.id;
  }
}

export interface DiagnoseOptions {
  domain: string;
  resolver: DnsResolver;
  /** With a Resend API key: check Resend's own records and status. */
  resend?: ResendDomains;
  /** Check Resend's DNS layout (default); off when Resend is not among the providers. */
  resendRecords?: boolean;
  /** SES and Postmark status, for the providers configured. */
  providers?: ProviderStatusSource[];
}

export async function diagnose({
  domain: input,
  resolver,
  resend,
  resendRecords = true,
  providers = [],
}: DiagnoseOptions): Promise<DoctorReport> {
  const domain = clean(input);
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) throw new DoctorError(`"${input}" is not a domain name`);
  let expected = resendRecords ? defaultRecords(domain) : [];
  let resendInfo: DoctorReport['resend'] = null;
  if (resend) {
    const found = await findResendDomain(resend, domain);
    if (!found) throw new DoctorError(`${domain} is not a Resend domain of this API key; add it with --setup`, true);
    const details = await resendCall('domains.get', resend.get(found.id));
    resendInfo = { id: details.id, status: details.status, region: details.region };
    expected = recordsFromResend(domain, details.records);
  }
  const [checks, providerChecks] = await Promise.all([
    checkRecords(resolver, [...expected, dmarcRecord(domain)]),
    Promise.all(providers.map((status) => status(domain))),
  ]);
  const dnsOk = checks.every((c) => !c.required || c.status === 'ok');
  const providersOk = providerChecks.flat().every((c) => c.status === 'ok' || c.status === 'skipped');
  return {
    domain,
    resend: resendInfo,
    checks,
    providers: providerChecks.flat(),
    ok: dnsOk && providersOk && (resendInfo === null || resendInfo.status === 'verified'),
  };
}

/** Something required is missing or unverified (as opposed to: could not be checked). */
export function somethingMissing(report: DoctorReport): boolean {
  return (
    report.checks.some((c) => c.required && (c.status === 'missing' || c.status === 'mismatch')) ||
    (report.resend !== null && report.resend.status !== 'verified') ||
    report.providers.some((c) => c.status === 'missing' || c.status === 'unverified')
  );
}

export interface SetupOptions {
  domain: string;
  resolver: DnsResolver;
  resend: ResendDomains;
  timeoutMs: number;
  intervalMs: number;
  print: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** Creates the domain in Resend (or finds it), prints what to publish, then polls until verified or timeout. */
export async function setup({ domain: input, resolver, resend, timeoutMs, intervalMs, print, sleep }: SetupOptions): Promise<DoctorReport> {
  const domain = clean(input);
  const wait = sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const existing = await findResendDomain(resend, domain);
  const id = existing?.id ?? (await resendCall('domains.create', resend.create({ name: domain }))).id;
  print(existing ? `${domain} is already in Resend (${id}).` : `Created ${domain} in Resend (${id}).`);
  const details = await resendCall('domains.get', resend.get(id));
  print('Publish these records at your DNS provider:');
  for (const r of [...recordsFromResend(domain, details.records), dmarcRecord(domain)]) print(`  ${describeRecord(r)}`);
  await resendCall('domains.verify', resend.verify(id));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await diagnose({ domain, resolver, resend });
    print(`Resend status: ${report.resend?.status ?? 'unknown'}`);
    if (report.resend?.status === 'verified' || Date.now() + intervalMs > deadline) return report;
    await wait(intervalMs);
  }
}

export function describeRecord(r: Pick<ExpectedRecord, 'type' | 'name' | 'value' | 'priority'>): string {
  const value = r.value ?? '<the DKIM key shown in Resend, or run with RESEND_API_KEY set>';
  return `${r.type.padEnd(5)} ${r.name}  ${r.type === 'TXT' ? JSON.stringify(value) : value}${r.priority !== undefined ? `  (priority ${r.priority})` : ''}`;
}

export function formatReport(report: DoctorReport): string {
  const lines: string[] = [];
  const resend = report.resend
    ? ` (Resend: ${report.resend.status}, ${report.resend.region})`
    : ' (DNS only; set RESEND_API_KEY to compare with Resend)';
  lines.push(`Domain ${report.domain}${resend}`);
  for (const c of report.checks) {
    const mark = c.status === 'ok' ? 'ok  ' : c.required ? 'FAIL' : 'warn';
    const found = c.status === 'ok' || c.found.length === 0 ? '' : `; found ${c.found.map((f) => JSON.stringify(f)).join(', ')}`;
    lines.push(`  [${mark}] ${c.check.padEnd(15)} ${c.type.padEnd(5)} ${c.name}  ${c.status}${c.note ? ` (${c.note})` : ''}${found}`);
  }
  const toPublish = report.checks.filter((c) => c.status !== 'ok');
  if (toPublish.length > 0) {
    lines.push('', 'Publish:');
    for (const c of toPublish) lines.push(`  ${describeRecord(c)}${c.required ? '' : '  (optional)'}`);
  }
  if (report.resend && report.resend.status !== 'verified') {
    lines.push('', `Resend has not verified the domain yet (${report.resend.status}); it rechecks DNS for up to 72 h.`);
  }
  if (report.providers.length > 0) {
    lines.push('', 'Providers:');
    for (const c of report.providers) {
      const mark = c.status === 'ok' ? 'ok  ' : c.status === 'skipped' ? 'skip' : 'FAIL';
      lines.push(`  [${mark}] ${c.check.padEnd(20)} ${c.status}: ${c.detail}`);
    }
  }
  lines.push(
    '',
    report.ok
      ? 'Everything required is in place.'
      : somethingMissing(report)
        ? 'Something required is missing (see above).'
        : 'Something required could not be checked (a DNS lookup or a provider API failed); run the doctor again.',
  );
  return lines.join('\n');
}
