import { parseConfig } from '../src/config/env';
import { resolveDestination, type AddressPolicy, type Resolve } from '../src/outbound/address-policy';
import { createWebhookEndpoints } from '../src/outbound/endpoints';
import { PRODUCTION_POLICY as PROD, useOutboundFixture } from './helpers/outbound';
import { waitFor } from './helpers/wait';

/**
 * Where outbound webhooks may not go: refused at send time in production (and at creation), on the address
 * the connection uses, with names resolved by a resolver the test controls (DNS rebinding).
 */

const { fixture, startDeliveries, newReceiver, suppressSomeone, next } = useOutboundFixture();

describe('SSRF', () => {
  const publicAddress = [{ address: '93.184.216.34', family: 4 as const }];

  async function refusedAttempt(url: string, resolve: Resolve) {
    const deliveries = startDeliveries({ policy: PROD, resolve });
    const endpoint = await fixture.database.db.webhookEndpoint.create({
      data: { id: `ep_ssrf${next()}`, url, secret: 'whsec_' + Buffer.from('k'.repeat(24)).toString('base64') },
    });
    fixture.harness.container.outbound.publisher.endpointsChanged();
    await suppressSomeone();
    const log = await waitFor(async () => {
      const l = await deliveries.listLog(endpoint.id, { limit: 5 });
      return l.data[0]?.attempts.length ? l.data[0] : null;
    });
    return log.attempts[0]!;
  }

  it.each([
    ['loopback', 'https://127.0.0.1/hooks', publicAddress, /not a public address/],
    [
      'a private address',
      'https://hooks.example.com/',
      [{ address: '10.1.2.3', family: 4 as const }],
      /10\.1\.2\.3, which is not a public address/,
    ],
    [
      'an IPv4-mapped private address',
      'https://hooks.example.com/',
      [{ address: '::ffff:192.168.0.7', family: 6 as const }],
      /192\.168\.0\.7/,
    ],
    ['link-local IPv6', 'https://hooks.example.com/', [{ address: 'fe80::1', family: 6 as const }], /not a public address/],
    ['the metadata address', 'https://hooks.example.com/', [{ address: '169.254.169.254', family: 4 as const }], /metadata/],
    [
      'a mix of public and private answers',
      'https://hooks.example.com/',
      [...publicAddress, { address: '172.20.0.1', family: 4 as const }],
      /172\.20\.0\.1/,
    ],
  ])('refuses at send time in production: %s', async (_name, url, addresses, reason) => {
    const attempt = await refusedAttempt(url, async () => addresses);
    expect(attempt).toMatchObject({ outcome: 'refused', status_code: null });
    expect(attempt.error).toMatch(reason);
  });

  it('refuses a name that resolved to a public address at creation and to loopback at send time (DNS rebinding)', async () => {
    let answer = publicAddress;
    const resolve: Resolve = async () => answer;
    const endpoints = createWebhookEndpoints({
      db: fixture.database.db,
      policy: PROD,
      resolve,
      publisher: fixture.harness.container.outbound.publisher,
      log: fixture.harness.container.log,
    });
    const { endpoint } = await endpoints.create({ url: 'https://rebind.example.com/hooks' });
    answer = [{ address: '127.0.0.1', family: 4 }];
    const deliveries = startDeliveries({ policy: PROD, resolve });
    await suppressSomeone();
    const log = await waitFor(async () => {
      const l = await deliveries.listLog(endpoint.id, { limit: 5 });
      return l.data[0]?.attempts.length ? l.data[0] : null;
    });
    expect(log.attempts[0]).toMatchObject({ outcome: 'refused' });
    expect(log.attempts[0]!.error).toMatch(/127\.0\.0\.1/);
  });

  it('refuses at creation in production: http, and names resolving to private addresses', async () => {
    const endpoints = createWebhookEndpoints({
      db: fixture.database.db,
      policy: PROD,
      resolve: async () => [{ address: '192.168.1.10', family: 4 }],
      publisher: fixture.harness.container.outbound.publisher,
      log: fixture.harness.container.log,
    });
    await expect(endpoints.create({ url: 'http://hooks.example.com/' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/https/),
    });
    await expect(endpoints.create({ url: 'https://hooks.example.com/' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/OUTBOUND_WEBHOOK_ALLOWED_HOSTS/),
    });
  });

  it('connects to the address it checked, keeping the URL host in the Host header', async () => {
    const lookups: string[] = [];
    startDeliveries({
      resolve: async (host) => {
        lookups.push(host);
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const receiver = await newReceiver();
    const port = new URL(receiver.url).port;
    const { secret } = await fixture.harness.container.outbound.endpoints.create({ url: `http://pinned.localhost:${port}/hooks` });
    receiver.setSecret(secret);
    await suppressSomeone();
    const [event] = await waitFor(() => (receiver.verified.length > 0 ? receiver.verified : null));
    expect(event!.request.headers.host).toBe(`pinned.localhost:${port}`);
    expect(lookups).toEqual(['pinned.localhost']);
  });

  it('lets OUTBOUND_WEBHOOK_ALLOWED_HOSTS admit a named host or a subnet, and refuses a malformed entry naming the variable', async () => {
    const { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: allowList } = parseConfig({ OUTBOUND_WEBHOOK_ALLOWED_HOSTS: 'hooks.internal, 10.0.5.0/24' });
    expect(allowList).toEqual({ hosts: ['hooks.internal'], subnets: [{ address: '10.0.5.0', prefix: 24, family: 'ipv4' }] });
    const policy: AddressPolicy = { production: true, allowList };
    const private10 = async () => [{ address: '10.9.9.9', family: 4 as const }];
    await expect(resolveDestination(new URL('https://hooks.internal/'), policy, private10)).resolves.toEqual({
      address: '10.9.9.9',
      family: 4,
    });
    await expect(resolveDestination(new URL('https://other.internal/'), policy, private10)).rejects.toThrow(/not a public address/);
    await expect(
      resolveDestination(new URL('https://other.internal/'), policy, async () => [{ address: '10.0.5.20', family: 4 }]),
    ).resolves.toBeDefined();
    expect(() => parseConfig({ OUTBOUND_WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/99' })).toThrow(/OUTBOUND_WEBHOOK_ALLOWED_HOSTS/);
  });
});
