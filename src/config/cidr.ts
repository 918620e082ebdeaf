/**
 * CIDR blocks (`10.0.0.0/8`, `::1/128`, or a bare address) for
 * `edge.proxyProtocol.trusted`, matched with node:net's BlockList.
 */
import { BlockList, isIP } from 'node:net';

export interface Cidr { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/** Parses one CIDR; undefined when it is not one. */
export function parseCidr(s: string): Cidr | undefined {
  const [address, bits, extra] = s.split('/');
  if (extra !== undefined) return undefined;
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  if (bits !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** A matcher for addresses as sockets report them (IPv4-mapped IPv6 included). */
export function cidrMatcher(blocks: string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const b of blocks) {
    const c = parseCidr(b);
    if (!c) throw new Error(`not a CIDR block: ${b}`);
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return (address) => {
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const a = m ? m[1] : address;
    const v = isIP(a);
    return v !== 0 && list.check(a, v === 4 ? 'ipv4' : 'ipv6');
  };
}
