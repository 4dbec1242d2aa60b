import { BlockList, isIP } from 'node:net';

/**
 * Why `entry` is not an address or a CIDR block (`10.0.0.5`, `10.20.0.0/16`, `fd00::/8`);
 * undefined when it is one.
 */
export function addressEntryProblem(entry: string): string | undefined {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) {
    return `${JSON.stringify(entry)} is not an IP address or a CIDR block (e.g. "10.0.0.5" or "10.20.0.0/16")`;
  }
  if (prefix === undefined) return undefined;
  const bits = Number(prefix);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || bits > max) {
    return `${JSON.stringify(entry)}: the prefix length must be a number from 0 to ${max}`;
  }
  return undefined;
}

/** A peer address as a list compares it: an IPv4-mapped IPv6 address (`::ffff:10.0.0.5`) as IPv4. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A set of addresses and CIDR blocks, IPv4 and IPv6, that peer addresses are checked against. */
export class AddressList {
  private readonly blocks = new BlockList();
  readonly size: number;

  /** Throws a RangeError naming the first entry that is not an address or a CIDR block. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const problem = addressEntryProblem(entry);
      if (problem) throw new RangeError(problem);
      const [address = '', prefix] = entry.split('/');
      const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.blocks.addAddress(address, type);
      else this.blocks.addSubnet(address, Number(prefix), type);
    }
    this.size = entries.length;
  }

  /** True when `address` (as a socket reports it) is in the list. */
  has(address: string): boolean {
    const a = normalizeAddress(address);
    const family = isIP(a);
    if (family === 0) return false;
    return this.blocks.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }
}
