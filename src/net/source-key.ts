import { isCanonicalIPv4, isIPv4Mapped, parseIPv6, withoutZone } from '../ip-address.js';

/** The mapped-IPv4 prefix Node writes for the IPv4 peers of a dual-stack listener. */
const MAPPED_PREFIX = '::ffff:';

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
  if (isCanonicalIPv4(address)) return address;
  if (address.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX && isCanonicalIPv4(address.slice(MAPPED_PREFIX.length))) {
    return address.slice(MAPPED_PREFIX.length);
  }
  const bytes = parseIPv6(withoutZone(address));
  if (bytes === undefined) return address;
  if (isIPv4Mapped(bytes)) return bytes.subarray(12).join('.');
  return `${Buffer.from(bytes.subarray(0, 8)).toString('hex').replace(/(.{4})(?!$)/g, '$1:')}::/64`;
}
