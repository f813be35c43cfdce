import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { OutboundAllowList } from '../config/outbound-allow-list';

/**
 * Where outbound webhooks may go (SSRF). In production an endpoint must be https and every address its host
 * resolves to must be public: loopback, link-local, private, shared (CGNAT), multicast and cloud metadata
 * addresses are refused unless OUTBOUND_WEBHOOK_ALLOWED_HOSTS names the host or the subnet. Outside
 * production, http is allowed for localhost and only metadata addresses are refused. The check runs again at
 * every send, on the addresses the connection then uses (sender.ts pins them), so a name re-pointed at an
 * internal address after creation (DNS rebinding) is refused too.
 */

export interface AddressPolicy {
  production: boolean;
  allowList: OutboundAllowList;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a host name resolves to (A and AAAA). Tests inject their own. */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolve: Resolve = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** The endpoint's URL or address is not one auth-relay sends to; the message says why. */
export class RefusedDestinationError extends Error {}

const METADATA = new BlockList();
for (const address of ['169.254.169.254', '169.254.170.2', '100.100.100.200']) METADATA.addAddress(address, 'ipv4');
METADATA.addAddress('fd00:ec2::254', 'ipv6');

const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** `::ffff:10.0.0.1` (or `::ffff:a00:1`) is the IPv4 address it maps. */
function unmapped(address: string, family: 4 | 6): ResolvedAddress {
  const m = family === 6 ? /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address) : null;
  if (!m) return { address, family };
  if (m[1]) return { address: m[1], family: 4 };
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return { address: [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.'), family: 4 };
}

const LOCALHOST = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The URL's own rules (scheme, host), before any name is resolved: at creation and before every send. */
export function checkUrl(raw: string, policy: AddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RefusedDestinationError('url: must be an absolute http(s):// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RefusedDestinationError('url: must be an https:// URL');
  if (url.protocol === 'http:') {
    if (policy.production) throw new RefusedDestinationError('url: must be https:// in production');
    if (!LOCALHOST.has(url.hostname) && !url.hostname.endsWith('.localhost')) {
      throw new RefusedDestinationError('url: http:// is allowed for localhost only; use https://');
    }
  }
  return url;
}

function allowedBySubnet(a: ResolvedAddress, policy: AddressPolicy): boolean {
  if (policy.allowList.subnets.length === 0) return false;
  const list = new BlockList();
  for (const s of policy.allowList.subnets) list.addSubnet(s.address, s.prefix, s.family);
  return list.check(a.address, a.family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The address to connect to for `url`: its host's addresses, each checked; one refused address refuses the
 * endpoint (a resolver answering a public and an internal address would otherwise pick for the attacker).
 */
export async function resolveDestination(url: URL, policy: AddressPolicy, resolve: Resolve): Promise<ResolvedAddress> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  try {
    addresses = literal ? [{ address: host, family: literal === 6 ? 6 : 4 }] : await resolve(host);
  } catch (err) {
    throw new RefusedDestinationError(`${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (addresses.length === 0) throw new RefusedDestinationError(`${host} does not resolve`);
  if (policy.allowList.hosts.includes(host)) return addresses[0]!;
  for (const resolved of addresses) {
    const a = unmapped(resolved.address, resolved.family);
    const type = a.family === 4 ? 'ipv4' : 'ipv6';
    if (allowedBySubnet(a, policy)) continue;
    if (METADATA.check(a.address, type)) throw new RefusedDestinationError(`${host} resolves to ${a.address}, a cloud metadata address`);
    if (policy.production && NOT_PUBLIC.check(a.address, type)) {
      throw new RefusedDestinationError(
        `${host} resolves to ${a.address}, which is not a public address; list the host or its subnet in OUTBOUND_WEBHOOK_ALLOWED_HOSTS to allow it`,
      );
    }
  }
  return addresses[0]!;
}
