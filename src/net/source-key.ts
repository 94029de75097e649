import { isIPv4Mapped, parseIPv4, parseIPv6 } from '../challenge/identifier.js';

/**
 * The key connections are counted under for `--max-connections-per-source`: the IPv4 address, or the /64 prefix of
 * an IPv6 address. A single host is routinely given a whole /64 (RFC 6177), so counting per IPv6 address would let
 * one attacker open 2^64 "sources". IPv4-mapped IPv6 (`::ffff:a.b.c.d`, from a dual-stack listener) counts as IPv4.
 * Anything unparsable counts as itself.
 */
export function sourceKey(address: string): string {
  if (parseIPv4(address) !== undefined) return address;
  const bytes = parseIPv6(address.replace(/%.*$/, ''));
  if (bytes === undefined) return address;
  if (isIPv4Mapped(bytes)) return bytes.subarray(12).join('.');
  return `${Buffer.from(bytes.subarray(0, 8)).toString('hex').replace(/(.{4})(?!$)/g, '$1:')}::/64`;
}
