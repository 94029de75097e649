import { isIPv4Mapped, parseIPv6 } from '../challenge/identifier.js';

/** One IPv4 octet as a canonical dotted quad writes it: 0..255, no leading zero. */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^(?:${OCTET}\\.){3}${OCTET}$`);
/** IPv4-mapped IPv6 as Node reports the peers of a dual-stack listener. */
const MAPPED_IPV4 = new RegExp(`^::ffff:(?:${OCTET}\\.){3}${OCTET}$`, 'i');

/**
 * The key connections are counted under for `--max-connections-per-source`: the IPv4 address, or the /64 prefix of
 * an IPv6 address. A single host is routinely given a whole /64 (RFC 6177), so counting per IPv6 address would let
 * one attacker open 2^64 "sources". IPv4-mapped IPv6 (`::ffff:a.b.c.d`, from a dual-stack listener) counts as IPv4.
 * Anything unparsable counts as itself.
 *
 * Runs for every accepted connection: the usual forms (Node's canonical IPv4 and mapped IPv4) are recognised by a
 * regular expression, without parsing into bytes.
 */
export function sourceKey(address: string): string {
  if (IPV4.test(address)) return address;
  if (MAPPED_IPV4.test(address)) return address.slice('::ffff:'.length);
  const bytes = parseIPv6(address.replace(/%.*$/, ''));
  if (bytes === undefined) return address;
  if (isIPv4Mapped(bytes)) return bytes.subarray(12).join('.');
  return `${Buffer.from(bytes.subarray(0, 8)).toString('hex').replace(/(.{4})(?!$)/g, '$1:')}::/64`;
}
