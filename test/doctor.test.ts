import { Resend } from 'resend';
import { diagnose, DoctorError, formatReport, setup, type DnsResolver } from '../src/deliverability/doctor';
import { runDoctor, type DoctorCliDeps } from '../src/deliverability/doctor-cli';
import { startFakeServer, type FakeServer } from './fakes/fake-http-server';

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
    { record: 'SPF', name: 'send', type: 'MX', ttl: 'Auto', status: 'verified', value: 'feedback-smtp.eu-west-1.amazonses.com', priority: 10 },
    { record: 'SPF', name: 'send', type: 'TXT', ttl: 'Auto', status: 'verified', value: 'v=spf1 include:amazonses.com ~all' },
    { record: 'Tracking', name: `links.${domain}`, type: 'CNAME', ttl: 'Auto', status: 'pending', value: 'links1.resend-dns.com' },
  ];

  beforeAll(async () => {
    resendApi = await startFakeServer((req) => {
      if (req.headers.authorization !== 'Bearer re_test_key') return { status: 401, body: { statusCode: 401, name: 'missing_api_key', message: 'no key' } };
      if (req.method === 'GET' && req.path === '/domains') {
        return { status: 200, body: { object: 'list', has_more: false, data: domains.map(({ records: _r, ...d }) => d) } };
      }
      if (req.method === 'POST' && req.path === '/domains') {
        const name = req.json.name as string;
        const created = { id: `d_${domains.length + 1}`, name, status: 'not_started', region: 'eu-west-1', records: records(name) };
        domains.push(created);
        return { status: 200, body: { ...created, created_at: new Date().toISOString(), capabilities: { sending: 'enabled', receiving: 'disabled' } } };
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
    const report = await diagnose({ domain: 'good.example', resolver: fakeResolver(goodZone('good.example', 'eu-west-1')), resend: client() });
    expect(report.resend).toEqual({ id: 'd_9', status: 'verified', region: 'eu-west-1' });
    expect(report.ok).toBe(true);
    // Tracking is optional: missing, reported, not failing.
    expect(report.checks.find((c) => c.check === 'Tracking')).toMatchObject({ status: 'missing', required: false });
  });

  it('flags a DKIM key that differs from Resend\'s and a domain Resend has not verified', async () => {
    domains.push({ id: 'd_8', name: 'stale.example', status: 'failed', region: 'eu-west-1', records: records('stale.example', 'p=NEWKEY') });
    const report = await diagnose({ domain: 'stale.example', resolver: fakeResolver(goodZone('stale.example', 'eu-west-1')), resend: client() });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'DKIM')).toMatchObject({ status: 'mismatch' });
    expect(formatReport(report)).toMatch(/Resend has not verified the domain yet \(failed\)/);
  });

  it('says so when the domain is not in Resend', async () => {
    await expect(diagnose({ domain: 'unknown.example', resolver: fakeResolver({}), resend: client() })).rejects.toThrow(/not a Resend domain/);
    const run = await cli(['unknown.example'], { resolver: fakeResolver({}), resend: client() });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/not a Resend domain of this API key; add it with --setup/);
  });

  it('exits 3 when the Resend API refuses the key', async () => {
    const run = await cli(['good.example'], { resolver: fakeResolver({}), resend: new Resend('re_wrong', { baseUrl: resendApi.url }).domains });
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
