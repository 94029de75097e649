/**
 * ACME identifiers as the hook and the control socket pass them: a DNS name, an IP address literal, or the
 * reverse-DNS name dehydrated uses for IP identifiers. Parsing is strict and self-contained (no node:net): the
 * result says exactly which name the CA will put in SNI and which SAN the challenge certificate must carry.
 */
import { AlpnResponderError, quoteInput } from '../errors.js';
import { formatIpAddress, parseIPv4, parseIPv6 } from '../ip-address.js';

/**
 * A parsed identifier.
 *
 * `sni` is the server name the CA sends (RFC 8737 §3, RFC 8738 §6) and the key the daemon files challenges under:
 * the DNS name itself, or for an IP the reverse-DNS name (`4.3.2.1.in-addr.arpa`, 32 nibbles `….ip6.arpa`), always
 * lower-case without a trailing dot.
 */
export type Identifier =
  | { readonly kind: 'dns'; /** lower-case, no trailing dot, punycode */ readonly name: string; readonly sni: string }
  | {
      readonly kind: 'ip';
      /** Canonical text: dotted quad, or RFC 5952 lower-case compressed IPv6 (`::ffff:1.2.3.4` for mapped IPv4). */
      readonly address: string;
      /** 4 or 16 bytes: exactly what the certificate's iPAddress SAN must hold. */
      readonly bytes: Uint8Array;
      readonly sni: string;
    };

/** Longest input looked at; anything longer is refused before any other work. A DNS name is at most 253 octets. */
const MAX_INPUT = 256;
const MAX_NAME = 253;
const MAX_LABEL = 63;

const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const NIBBLE = /^[0-9a-f]$/;
/** WHATWG URL's "ends in a number": a last label that a resolver would read as (part of) an IPv4 address. */
const NUMERIC_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/;

function bad(input: string, why: string): AlpnResponderError {
  return new AlpnResponderError(
    'ERR_BAD_IDENTIFIER',
    `${quoteInput(input)} is not a DNS name, IP address or reverse-DNS name: ${why}`,
  );
}

/**
 * Parses an identifier.
 *
 * Accepts a DNS name (any case, one trailing dot tolerated, LDH labels, IDN only as `xn--` punycode), a strict
 * dotted-quad IPv4 literal, an IPv6 literal (bracketed or not, no zone, embedded dotted quad allowed), and the full
 * reverse-DNS name of either (`d.c.b.a.in-addr.arpa`, 32 nibbles + `.ip6.arpa`), which yields an IP identifier.
 *
 * @throws AlpnResponderError ERR_WILDCARD_IDENTIFIER for anything with `*`, ERR_BAD_IDENTIFIER for the rest.
 */
export function parseIdentifier(input: string): Identifier {
  if (typeof input !== 'string') {
    throw new AlpnResponderError('ERR_BAD_IDENTIFIER', 'the identifier must be a string');
  }
  if (input.length === 0) throw bad(input, 'it is empty');
  if (input.length > MAX_INPUT) throw bad(input, `it is longer than ${MAX_NAME} characters`);
  if (input.includes('*')) {
    throw new AlpnResponderError(
      'ERR_WILDCARD_IDENTIFIER',
      `${quoteInput(input)} is a wildcard: TLS-ALPN-01 cannot validate wildcard names, deploy the challenge for the base name`,
    );
  }
  if (/[^\x00-\x7f]/.test(input)) {
    throw bad(input, 'it contains non-ASCII characters; convert internationalized names to punycode (xn--…) first');
  }
  if (/\s/.test(input)) throw bad(input, 'it contains whitespace');
  if (/[\x00-\x1f\x7f]/.test(input)) throw bad(input, 'it contains control characters');

  if (input.startsWith('[') || input.endsWith(']')) {
    if (!(input.startsWith('[') && input.endsWith(']'))) throw bad(input, 'unbalanced brackets');
    return ipIdentifier(parseIPv6OrThrow(input, input.slice(1, -1)));
  }
  if (input.includes(':')) return ipIdentifier(parseIPv6OrThrow(input, input));
  if (input.includes('%')) throw bad(input, 'it contains "%"');

  const lower = input.toLowerCase();
  const name = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  if (name.length === 0) throw bad(input, 'it is empty');
  const labels = name.split('.');
  const last = labels[labels.length - 1] as string;

  if (NUMERIC_LABEL.test(last)) {
    // Looks like an IPv4 literal: it must be a strict dotted quad, never a DNS name.
    if (lower !== name) throw bad(input, 'an IPv4 address takes no trailing dot');
    const bytes = parseIPv4(name);
    if (bytes === undefined) {
      throw bad(input, 'an IPv4 address is four decimal numbers 0-255 without leading zeros, such as 192.0.2.1');
    }
    return ipIdentifier(bytes);
  }

  if (name === 'in-addr.arpa' || name.endsWith('.in-addr.arpa')) {
    const parts = name === 'in-addr.arpa' ? [] : name.slice(0, -'.in-addr.arpa'.length).split('.');
    const bytes = parseIPv4(parts.reverse().join('.'));
    if (bytes === undefined) {
      throw bad(input, 'an in-addr.arpa name must hold exactly four decimal labels 0-255 (d.c.b.a.in-addr.arpa)');
    }
    return ipIdentifier(bytes);
  }
  if (name === 'ip6.arpa' || name.endsWith('.ip6.arpa')) {
    const parts = name === 'ip6.arpa' ? [] : name.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => NIBBLE.test(p))) {
      throw bad(input, 'an ip6.arpa name must hold exactly 32 single hex-digit labels');
    }
    const nibbles = parts.reverse().map((p) => parseInt(p, 16));
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = ((nibbles[2 * i] as number) << 4) | (nibbles[2 * i + 1] as number);
    return ipIdentifier(bytes);
  }

  if (name.length > MAX_NAME) throw bad(input, `it is longer than ${MAX_NAME} characters`);
  for (const label of labels) {
    if (label.length === 0) throw bad(input, 'it has an empty label');
    if (label.length > MAX_LABEL) throw bad(input, `a label is longer than ${MAX_LABEL} characters`);
    if (label.includes('_')) throw bad(input, 'it contains "_", which a host name cannot hold');
    if (!LABEL.test(label)) {
      throw bad(
        input,
        /^[a-z0-9-]+$/.test(label)
          ? 'a label starts or ends with "-"'
          : 'labels hold only letters, digits and "-"',
      );
    }
  }
  return { kind: 'dns', name, sni: name };
}

/** The human form: the DNS name or the IP address text. */
export function formatIdentifier(id: Identifier): string {
  return id.kind === 'dns' ? id.name : id.address;
}

function parseIPv6OrThrow(input: string, text: string): Uint8Array {
  if (text.includes('%')) throw bad(input, 'an IPv6 zone (%…) has no place in a certificate');
  const bytes = parseIPv6(text);
  if (bytes === undefined) throw bad(input, 'it is not a valid IPv6 address');
  return bytes;
}

function ipIdentifier(bytes: Uint8Array): Identifier {
  return { kind: 'ip', address: formatIpAddress(bytes), bytes, sni: reverseName(bytes) };
}

/** Reverse-DNS name of a 4- or 16-byte address, lower-case, no trailing dot. */
export function reverseName(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${Array.from(bytes).reverse().join('.')}.in-addr.arpa`;
  if (bytes.length !== 16) throw new RangeError('an IP address has 4 or 16 bytes');
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = bytes[i] as number;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}
