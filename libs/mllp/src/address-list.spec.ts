import { AddressList, addressEntryProblem, normalizeAddress } from './address-list';

describe('AddressList', () => {
  const list = new AddressList(['192.0.2.7', '10.20.0.0/16', 'fd00::/8', '::1']);

  it.each([
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['10.20.255.1', true],
    ['10.21.0.1', false],
    ['::ffff:10.20.0.9', true],
    ['fd12:3456::1', true],
    ['fe80::1', false],
    ['::1', true],
    ['', false],
    ['lab.example', false],
  ])('%s is on the list: %s', (address, expected) => {
    expect(list.has(address)).toBe(expected);
  });

  it('reads an IPv4-mapped IPv6 peer as IPv4, and leaves other addresses alone', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('::ffff:abcd')).toBe('::ffff:abcd');
    expect(normalizeAddress('10.0.0.1')).toBe('10.0.0.1');
  });

  it.each([
    ['10.0.0.0/8', undefined],
    ['2001:db8::/32', undefined],
    ['10.0.0.0/33', '"10.0.0.0/33": the prefix length must be a number from 0 to 32'],
    ['2001:db8::/129', '"2001:db8::/129": the prefix length must be a number from 0 to 128'],
    ['10.0.0.0/x', '"10.0.0.0/x": the prefix length must be a number from 0 to 32'],
    ['10.0.0/8', '"10.0.0/8" is not an IP address or a CIDR block (e.g. "10.0.0.5" or "10.20.0.0/16")'],
    [
      '10.0.0.0/8/8',
      '"10.0.0.0/8/8" is not an IP address or a CIDR block (e.g. "10.0.0.5" or "10.20.0.0/16")',
    ],
  ])('checks the entry %j', (entry, problem) => {
    expect(addressEntryProblem(entry)).toBe(problem);
  });

  it('refuses a list with a bad entry', () => {
    expect(() => new AddressList(['10.0.0.1', 'lab'])).toThrow(RangeError);
  });
});
