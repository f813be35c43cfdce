import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * `hooks.internal,10.0.5.0/24,fd00::7`: outbound webhook receivers on private networks. A host name is trusted
 * by name (whatever it resolves to); an address or subnet admits endpoints that resolve into it.
 */
export interface OutboundAllowList {
  hosts: string[];
  subnets: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[];
}

const hostName = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const outboundAllowList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z.string().refine((entry) => {
        const [address, prefix, ...rest] = entry.split('/');
        if (rest.length > 0) return false;
        if (prefix === undefined) return isIP(address!) !== 0 || hostName.test(address!);
        const max = isIP(address!) === 4 ? 32 : isIP(address!) === 6 ? 128 : 0;
        return max > 0 && /^\d{1,3}$/.test(prefix) && Number(prefix) <= max;
      }, 'each entry must be a host name, an IP address or a subnet like 10.0.5.0/24'),
    ),
  )
  .transform((entries): OutboundAllowList => {
    const list: OutboundAllowList = { hosts: [], subnets: [] };
    for (const entry of entries) {
      const [address, prefix] = entry.split('/') as [string, string | undefined];
      const family = isIP(address);
      if (family === 0) list.hosts.push(address);
      else
        list.subnets.push({
          address,
          prefix: prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix),
          family: family === 4 ? 'ipv4' : 'ipv6',
        });
    }
    return list;
  });
