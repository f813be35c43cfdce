import { SESv2Client } from '@aws-sdk/client-sesv2';
import { AccountClient, ServerClient } from 'postmark';
import { Resend } from 'resend';
import { diagnose, DoctorError, formatReport, setup, type DnsResolver } from '../src/deliverability/doctor';
import { runDoctor, type DoctorCliDeps } from '../src/deliverability/doctor-cli';
import { postmarkStatus, sesStatus } from '../src/deliverability/provider-status';
import { postmarkClientOptions } from '../src/providers/postmark/postmark-provider';
import { startFakeServer, type FakeServer } from './fakes/fake-http-server';
import { POSTMARK_ACCOUNT_TOKEN, POSTMARK_TOKEN, startFakePostmark, type FakePostmark } from './fakes/fake-postmark';
import { FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY, startFakeSes, verifiedDomainIdentity, type FakeSes } from './fakes/fake-ses';

/** DNS answers from a table: `TXT name` → records. Anything absent answers ENOTFOUND, like a real resolver. */
function fakeResolver(zone: Record<string, string[] | Error>): DnsResolver {
  const answer = (type: string, name: string): string[] => {
    const records = zone[`${type} ${name}`];
    if (records instanceof Error) throw records;
    if (!records) throw Object.assign(new Error(`query${type} ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return records;
  };
  return {
    resolveTxt: async (name) => answer('TXT', name).map((r) => [r.slice(0, 255), r.slice(255)].filter(Boolean)),
    resolveMx: async (name) => answer('MX', name).map((exchange) => ({ exchange, priority: 10 })),
    resolveCname: async (name) => answer('CNAME', name),
  };
}

const DKIM_KEY = `p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ${'x'.repeat(300)}`;

const goodZone = (domain: string, region = 'us-east-1') => ({
  [`TXT resend._domainkey.${domain}`]: [DKIM_KEY],
  [`TXT send.${domain}`]: ['v=spf1 include:amazonses.com ~all'],
  [`MX send.${domain}`]: [`feedback-smtp.${region}.amazonses.com`],
  [`TXT _dmarc.${domain}`]: ['v=DMARC1; p=none; rua=mailto:dmarc@example.com'],
  [`TXT ${domain}`]: ['google-site-verification=abc'],
});

describe('DNS only', () => {
  it('passes a domain with every record in place', async () => {
    const report = await diagnose({ domain: 'Good.Example', resolver: fakeResolver(goodZone('good.example')) });
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.check, c.status])).toEqual([
      ['DKIM', 'ok'],
      ['SPF', 'ok'],
      ['Return-path MX', 'ok'],
      ['DMARC', 'ok'],
    ]);
    expect(report.checks.find((c) => c.check === 'DMARC')!.note).toMatch(/p=none/);
    expect(formatReport(report)).toMatch(/Everything required is in place/);
  });

  it('fails a broken domain and says what to publish', async () => {
    const report = await diagnose({
      domain: 'broken.example',
      resolver: fakeResolver({
        'TXT send.broken.example': ['v=spf1 include:_spf.google.com ~all', 'v=spf1 include:amazonses.com ~all'],
        'MX send.broken.example': ['mx.other-host.example'],
        'TXT _dmarc.broken.example': new Error('queryTxt ESERVFAIL _dmarc.broken.example'),
      }),
    });
    expect(report.ok).toBe(false);
    const status = Object.fromEntries(report.checks.map((c) => [c.check, c.status]));
    expect(status).toEqual({ DKIM: 'missing', SPF: 'mismatch', 'Return-path MX': 'mismatch', DMARC: 'error' });
    expect(report.checks.find((c) => c.check === 'SPF')!.note).toMatch(/more than one SPF record/);
    const text = formatReport(report);
    expect(text).toMatch(/Publish:/);
    expect(text).toContain('TXT   _dmarc.broken.example  "v=DMARC1; p=none; rua=mailto:dmarc@broken.example"');
    expect(text).toContain('MX    send.broken.example  feedback-smtp.us-east-1.amazonses.com  (priority 10)');
    expect(text).toMatch(/Something required is missing/);
  });

  it('refuses something that is not a domain', async () => {
    await expect(diagnose({ domain: 'not a domain', resolver: fakeResolver({}) })).rejects.toThrow(DoctorError);
  });
});

/** Runs the CLI as `npm run doctor -- …` would, capturing what it prints. */
async function cli(argv: string[], deps: Partial<DoctorCliDeps> & Pick<DoctorCliDeps, 'resolver'>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDoctor(argv, { print: (l) => out.push(l), printError: (l) => err.push(l), ...deps });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('npm run doctor: exit codes and output', () => {
  it('exits 0 for a good domain and 1 for a broken one, printing what to publish', async () => {
    const good = await cli(['good.example'], { resolver: fakeResolver(goodZone('good.example')) });
    expect(good).toMatchObject({ code: 0, err: '' });
    expect(good.out).toMatch(/\[ok  \] DKIM/);
    expect(good.out).toMatch(/Everything required is in place/);

    const broken = await cli(['broken.example'], { resolver: fakeResolver({ 'TXT _dmarc.broken.example': ['v=DMARC1; p=reject'] }) });
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/\[FAIL\] DKIM/);
    expect(broken.out).toContain('TXT   send.broken.example  "v=spf1 include:amazonses.com ~all"');
    expect(broken.out).toMatch(/Something required is missing/);
  });

  it('exits 3, not 1, when DNS could not answer but nothing was found missing', async () => {
    const zone = { ...goodZone('flaky.example'), 'TXT _dmarc.flaky.example': new Error('queryTxt ETIMEOUT _dmarc.flaky.example') };
    const flaky = await cli(['flaky.example'], { resolver: fakeResolver(zone) });
    expect(flaky.code).toBe(3);
    expect(flaky.out).toMatch(/could not be checked/);
  });

  it.each([
    [[], /which domain/],
    [['not a domain'], /is not a domain name/],
    [['a.example', 'b.example'], /one domain at a time/],
    [['a.example', '--verbose'], /unknown option --verbose/],
    [['a.example', '--timeout', 'soon'], /--timeout needs a number/],
    [['a.example', '--setup'], /set RESEND_API_KEY/],
  ])('exits 2 on misuse: %j', async (argv, message) => {
    const run = await cli(argv, { resolver: fakeResolver({}) });
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(run.out).toBe('');
  });
});

describe('with the Resend domains API', () => {
  let resendApi: FakeServer;
  let domains: { id: string; name: string; status: string; region: string; records: unknown[] }[];
  let getsUntilVerified = 0;
  const records = (domain: string, key = DKIM_KEY) => [
    { record: 'DKIM', name: 'resend._domainkey', type: 'TXT', ttl: 'Auto', status: 'verified', value: key },
    {
      record: 'SPF',
      name: 'send',
      type: 'MX',
      ttl: 'Auto',
      status: 'verified',
      value: 'feedback-smtp.eu-west-1.amazonses.com',
      priority: 10,
    },
    { record: 'SPF', name: 'send', type: 'TXT', ttl: 'Auto', status: 'verified', value: 'v=spf1 include:amazonses.com ~all' },
    { record: 'Tracking', name: `links.${domain}`, type: 'CNAME', ttl: 'Auto', status: 'pending', value: 'links1.resend-dns.com' },
  ];

  beforeAll(async () => {
    resendApi = await startFakeServer((req) => {
      if (req.headers.authorization !== 'Bearer re_test_key')
        return { status: 401, body: { statusCode: 401, name: 'missing_api_key', message: 'no key' } };
      if (req.method === 'GET' && req.path === '/domains') {
        return { status: 200, body: { object: 'list', has_more: false, data: domains.map(({ records: _r, ...d }) => d) } };
      }
      if (req.method === 'POST' && req.path === '/domains') {
        const name = req.json.name as string;
        const created = { id: `d_${domains.length + 1}`, name, status: 'not_started', region: 'eu-west-1', records: records(name) };
        domains.push(created);
        return {
          status: 200,
          body: { ...created, created_at: new Date().toISOString(), capabilities: { sending: 'enabled', receiving: 'disabled' } },
        };
      }
      const one = /^\/domains\/([^/]+)(\/verify)?$/.exec(req.path);
      const domain = one && domains.find((d) => d.id === one[1]);
      if (!domain) return { status: 404, body: { statusCode: 404, name: 'not_found', message: 'Domain not found' } };
      if (req.method === 'POST' && one![2]) {
        domain.status = 'pending';
        return { status: 200, body: { object: 'domain', id: domain.id } };
      }
      if (domain.status === 'pending' && --getsUntilVerified <= 0) domain.status = 'verified';
      return { status: 200, body: { object: 'domain', created_at: new Date().toISOString(), ...domain } };
    });
  });
  afterAll(() => resendApi.close());
  beforeEach(() => {
    domains = [];
  });

  const client = () => new Resend('re_test_key', { baseUrl: resendApi.url }).domains;

  it('checks the exact records Resend returns and its verification status', async () => {
    domains.push({ id: 'd_9', name: 'good.example', status: 'verified', region: 'eu-west-1', records: records('good.example') });
    const report = await diagnose({
      domain: 'good.example',
      resolver: fakeResolver(goodZone('good.example', 'eu-west-1')),
      resend: client(),
    });
    expect(report.resend).toEqual({ id: 'd_9', status: 'verified', region: 'eu-west-1' });
    expect(report.ok).toBe(true);
    // Tracking is optional: missing, reported, not failing.
    expect(report.checks.find((c) => c.check === 'Tracking')).toMatchObject({ status: 'missing', required: false });
  });

  it("flags a DKIM key that differs from Resend's and a domain Resend has not verified", async () => {
    domains.push({
      id: 'd_8',
      name: 'stale.example',
      status: 'failed',
      region: 'eu-west-1',
      records: records('stale.example', 'p=NEWKEY'),
    });
    const report = await diagnose({
      domain: 'stale.example',
      resolver: fakeResolver(goodZone('stale.example', 'eu-west-1')),
      resend: client(),
    });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'DKIM')).toMatchObject({ status: 'mismatch' });
    expect(formatReport(report)).toMatch(/Resend has not verified the domain yet \(failed\)/);
  });

  it('says so when the domain is not in Resend', async () => {
    await expect(diagnose({ domain: 'unknown.example', resolver: fakeResolver({}), resend: client() })).rejects.toThrow(
      /not a Resend domain/,
    );
    const run = await cli(['unknown.example'], { resolver: fakeResolver({}), resend: client() });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/not a Resend domain of this API key; add it with --setup/);
  });

  it('exits 3 when the Resend API refuses the key', async () => {
    const run = await cli(['good.example'], {
      resolver: fakeResolver({}),
      resend: new Resend('re_wrong', { baseUrl: resendApi.url }).domains,
    });
    expect(run.code).toBe(3);
    expect(run.err).toMatch(/Resend domains.list failed/);
  });

  it('--setup through the CLI exits 0 once Resend verifies the domain', async () => {
    getsUntilVerified = 2;
    const run = await cli(['cli.example', '--setup', '--timeout', '60'], {
      resolver: fakeResolver(goodZone('cli.example', 'eu-west-1')),
      resend: client(),
      setupPollMs: 1,
    });
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/Created cli.example in Resend/);
    expect(run.out).toMatch(/Everything required is in place/);
  });

  it('--setup creates the domain, prints the records and polls until verified', async () => {
    getsUntilVerified = 3;
    const lines: string[] = [];
    const report = await setup({
      domain: 'new.example',
      resolver: fakeResolver(goodZone('new.example', 'eu-west-1')),
      resend: client(),
      timeoutMs: 60_000,
      intervalMs: 1,
      print: (l) => lines.push(l),
    });
    expect(domains.map((d) => d.name)).toEqual(['new.example']);
    expect(lines[0]).toBe('Created new.example in Resend (d_1).');
    expect(lines).toContain(`  TXT   resend._domainkey.new.example  ${JSON.stringify(DKIM_KEY)}`);
    expect(lines.filter((l) => l.startsWith('Resend status:')).at(-1)).toBe('Resend status: verified');
    expect(report.ok).toBe(true);
    expect(resendApi.requests.some((r) => r.method === 'POST' && r.path === '/domains/d_1/verify')).toBe(true);
  });

  it('--setup stops at its timeout when the domain never verifies', async () => {
    getsUntilVerified = Number.POSITIVE_INFINITY;
    const report = await setup({
      domain: 'slow.example',
      resolver: fakeResolver({}),
      resend: client(),
      timeoutMs: 50,
      intervalMs: 20,
      print: () => undefined,
    });
    expect(report.ok).toBe(false);
    expect(report.resend?.status).toBe('pending');
  });
});

/** DMARC only: SES and Postmark publish their own DKIM/return-path records, so Resend's layout is not checked. */
const dmarcZone = (domain: string) => ({ [`TXT _dmarc.${domain}`]: ['v=DMARC1; p=quarantine'] });

describe('with SES (SESv2 GetEmailIdentity, GetAccount)', () => {
  let ses: FakeSes;
  const client = (secret = FAKE_AWS_SECRET_ACCESS_KEY, accessKeyId = FAKE_AWS_ACCESS_KEY_ID) =>
    new SESv2Client({ region: 'eu-west-1', endpoint: ses.url, maxAttempts: 1, credentials: { accessKeyId, secretAccessKey: secret } });
  const run = (domain: string, from?: string, c = client()) =>
    cli([domain], { resolver: fakeResolver(dmarcZone(domain)), resendRecords: false, providers: [sesStatus(c, from)] });

  beforeAll(async () => {
    ses = await startFakeSes('eu-west-1');
  });
  afterAll(() => ses.close());
  beforeEach(() => {
    ses.identities.clear();
    ses.setAccount({
      SendingEnabled: true,
      ProductionAccessEnabled: true,
      EnforcementStatus: 'HEALTHY',
      SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 3 },
    });
  });

  it("exits 0 for a verified domain with DKIM and MAIL FROM in place, without Resend's records", async () => {
    ses.identities.set(
      'ses.example',
      verifiedDomainIdentity({
        MailFromAttributes: {
          MailFromDomain: 'bounce.ses.example',
          MailFromDomainStatus: 'SUCCESS',
          BehaviorOnMxFailure: 'USE_DEFAULT_VALUE',
        },
      }),
    );
    const result = await run('ses.example');
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toMatch(/\[ok  \] SES identity +ok: ses\.example \(DOMAIN\): SUCCESS/);
    expect(result.out).toMatch(/\[ok  \] SES DKIM +ok: SUCCESS/);
    expect(result.out).toMatch(/\[ok  \] SES MAIL FROM +ok: bounce\.ses\.example: SUCCESS/);
    expect(result.out).toMatch(/\[ok  \] SES account +ok: sending enabled, 50000 per 24 h, 14\/s/);
    expect(result.out).not.toMatch(/resend\._domainkey/);
    expect(ses.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v2/email/identities/ses.example', 'GET /v2/email/account']);
  });

  it('exits 1 for a domain SES has not verified, printing the DKIM CNAMEs to publish', async () => {
    ses.identities.set(
      'pending.example',
      verifiedDomainIdentity({
        VerifiedForSendingStatus: false,
        VerificationStatus: 'PENDING',
        DkimAttributes: { SigningEnabled: true, Status: 'PENDING', Tokens: ['tok1abc', 'tok2def'] },
        MailFromAttributes: {
          MailFromDomain: 'bounce.pending.example',
          MailFromDomainStatus: 'FAILED',
          BehaviorOnMxFailure: 'USE_DEFAULT_VALUE',
        },
      }),
    );
    const result = await run('pending.example');
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/\[FAIL\] SES identity +unverified: pending\.example \(DOMAIN\): PENDING/);
    expect(result.out).toContain('CNAME tok1abc._domainkey.pending.example → tok1abc.dkim.amazonses.com');
    expect(result.out).toMatch(/\[FAIL\] SES MAIL FROM +unverified: bounce\.pending\.example: FAILED/);
    expect(result.out).toMatch(/Something required is missing/);
  });

  it('exits 1 when neither the domain nor the From address is an identity, and accepts a verified From address', async () => {
    const missing = await run('none.example', 'Acme <auth@none.example>');
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/\[FAIL\] SES identity +missing: none\.example nor auth@none\.example is not an SES identity/);

    ses.identities.set('auth@none.example', {
      IdentityType: 'EMAIL_ADDRESS',
      VerifiedForSendingStatus: true,
      VerificationStatus: 'SUCCESS',
      FeedbackForwardingStatus: true,
    });
    const address = await run('none.example', 'Acme <auth@none.example>');
    expect(address.code).toBe(0);
    expect(address.out).toMatch(/\[ok  \] SES identity +ok: auth@none\.example \(EMAIL_ADDRESS\)/);
    expect(ses.requests.some((r) => r.path === '/v2/email/identities/auth%40none.example')).toBe(true);
  });

  it('exits 1 for an account in the sandbox or with sending paused', async () => {
    ses.identities.set('ses.example', verifiedDomainIdentity());
    ses.setAccount({ SendingEnabled: true, ProductionAccessEnabled: false, EnforcementStatus: 'HEALTHY' });
    const sandbox = await run('ses.example');
    expect(sandbox.code).toBe(1);
    expect(sandbox.out).toMatch(/\[FAIL\] SES account +unverified: in the sandbox/);

    ses.setAccount({ SendingEnabled: false, ProductionAccessEnabled: true, EnforcementStatus: 'PROBATION' });
    const paused = await run('ses.example');
    expect(paused.code).toBe(1);
    expect(paused.out).toMatch(/sending is paused \(PROBATION\)/);
  });

  it('exits 3 when SES refuses the credentials', async () => {
    ses.identities.set('ses.example', verifiedDomainIdentity());
    const result = await run('ses.example', undefined, client('wrong', 'AKIAWRONGKEY00000000'));
    expect(result.code).toBe(3);
    expect(result.out).toMatch(/\[FAIL\] SES identity +error: UnrecognizedClientException/);
    expect(result.out).toMatch(/could not be checked/);
  });
});

describe('with Postmark (server token; account token for the domain)', () => {
  let postmark: FakePostmark;
  const options = () => postmarkClientOptions(postmark.url, 5_000);
  const status = (serverToken = POSTMARK_TOKEN, accountToken: string | null = POSTMARK_ACCOUNT_TOKEN, messageStream = 'outbound') =>
    postmarkStatus({
      server: new ServerClient(serverToken, options()),
      messageStream,
      ...(accountToken ? { account: new AccountClient(accountToken, options()) } : {}),
    });
  const run = (domain: string, source = status()) =>
    cli([domain], { resolver: fakeResolver(dmarcZone(domain)), resendRecords: false, providers: [source] });

  beforeAll(async () => {
    postmark = await startFakePostmark();
  });
  afterAll(() => postmark.close());
  beforeEach(() => {
    postmark.domains.splice(0, Infinity, { ID: 7, Name: 'pm.example', DKIMVerified: true, ReturnPathDomainVerified: true });
    postmark.streams.splice(1, Infinity);
    postmark.streams[0]!.ArchivedAt = null;
  });

  it('exits 0 when the stream is live and the domain has DKIM and Return-Path verified', async () => {
    const result = await run('pm.example');
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toMatch(/\[ok  \] Postmark stream +ok: outbound \(Transactional\) on server "auth-relay production"/);
    expect(result.out).toMatch(/\[ok  \] Postmark DKIM/);
    expect(result.out).toMatch(/\[ok  \] Postmark Return-Path +ok: pm-bounces\.pm\.example/);
    const domainCalls = postmark.requests.filter((r) => r.path.startsWith('/domains'));
    expect(domainCalls.every((r) => r.headers['x-postmark-account-token'] === POSTMARK_ACCOUNT_TOKEN)).toBe(true);
  });

  it('exits 1 for pending DKIM and Return-Path, printing what to publish', async () => {
    postmark.domains[0] = { ID: 7, Name: 'pm.example', DKIMVerified: false, ReturnPathDomainVerified: false };
    const result = await run('pm.example');
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/\[FAIL\] Postmark DKIM +unverified: publish TXT 20260101000000pm\._domainkey\.pm\.example "k=rsa;p=/);
    expect(result.out).toMatch(/\[FAIL\] Postmark Return-Path +unverified: publish CNAME pm-bounces\.pm\.example → pm\.mtasv\.net/);
  });

  it('exits 1 for a domain not in the account, a missing stream or an archived one', async () => {
    const noDomain = await run('other.example');
    expect(noDomain.code).toBe(1);
    expect(noDomain.out).toMatch(/\[FAIL\] Postmark domain +missing: other\.example is not a Postmark domain of this account/);

    const noStream = await run('pm.example', status(POSTMARK_TOKEN, POSTMARK_ACCOUNT_TOKEN, 'auth-codes'));
    expect(noStream.code).toBe(1);
    expect(noStream.out).toMatch(/\[FAIL\] Postmark stream +missing: no message stream "auth-codes"/);

    postmark.streams[0]!.ArchivedAt = '2026-11-30T10:00:00-05:00';
    const archived = await run('pm.example');
    expect(archived.code).toBe(1);
    expect(archived.out).toMatch(/outbound on server "auth-relay production" was archived/);
  });

  it('skips the domain without an account token and still checks the stream', async () => {
    postmark.domains.splice(0, Infinity);
    const result = await run('pm.example', status(POSTMARK_TOKEN, null));
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/\[skip\] Postmark domain +skipped: set POSTMARK_ACCOUNT_TOKEN/);
  });

  it('exits 3 when Postmark refuses the server token or the account token', async () => {
    const badServer = await run('pm.example', status('wrong-server-token'));
    expect(badServer.code).toBe(3);
    expect(badServer.out).toMatch(/\[FAIL\] Postmark stream +error: ErrorCode 10: The Server Token/);

    const badAccount = await run('pm.example', status(POSTMARK_TOKEN, 'wrong-account-token'));
    expect(badAccount.code).toBe(3);
    expect(badAccount.out).toMatch(/\[FAIL\] Postmark domain +error: ErrorCode 10: The Account Token/);
  });
});
