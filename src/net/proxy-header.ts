/**
 * PROXY protocol headers, as HAProxy's "The PROXY protocol, Versions 1 & 2" (doc/proxy-protocol.txt) defines them:
 * the header a trusted front proxy (HAProxy, nginx stream) puts before each connection it hands the daemon, and the
 * header the daemon puts before each connection it passes through to a backend web server.
 *
 * The parser accepts both versions on the same input — "it is recommended that they also implement the
 * human-readable header format for better interoperability" — and is strict: "Any sequence which does not exactly
 * match the protocol must be discarded". Like the ClientHello parser it is eager: `invalid` as soon as the bytes
 * received so far can no longer start a valid header, `incomplete` while they still could. The spec recommends
 * aborting "as soon as possible so that the sender gets a chance to notice the anomaly and log it".
 *
 * Pure: no sockets. Addresses are handled as text the way Node reports them (`socket.remoteAddress`).
 */
import { formatIpAddress, isIPv4Mapped, parseIPv4, parseIPv6 } from '../ip-address.js';
import { hex, latin1, octet } from '../bytes.js';
import { INCOMPLETE, complete, invalid, isStop, type ParseResult, type Stop } from '../parse-result.js';

/** The TCP endpoints a PROXY header carries. */
export interface ProxyAddress {
  /** `tcp4`: both addresses are dotted quads; `tcp6`: both are IPv6 text. */
  readonly family: 'tcp4' | 'tcp6';
  /** The client: dotted quad, or RFC 5952 IPv6 (`::ffff:a.b.c.d` for v4-mapped), as Node writes socket addresses. */
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** The address the client connected to, in the same form as `sourceAddress`. */
  readonly destinationAddress: string;
  readonly destinationPort: number;
}

/** One type-length-value entry after the v2 address block, kept as sent. */
export interface ProxyTlv {
  /** PP2_TYPE_* (0x01 ALPN, 0x02 AUTHORITY, 0x03 CRC32C, 0x04 NOOP, 0x05 UNIQUE_ID, 0x20 SSL, 0x30 NETNS, …). */
  readonly type: number;
  /** The value bytes: a copy, so the caller may reuse its receive buffer. */
  readonly value: Uint8Array;
}

/** A parsed PROXY header. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * v2 `LOCAL` means the proxy opened the connection itself (a health check). Version 1 has no command: every v1
   * line is `proxy`, `UNKNOWN` ones included.
   */
  readonly command: 'proxy' | 'local';
  /**
   * The original endpoints, or undefined when the header does not give TCP endpoints — v2 `LOCAL`, v1 `UNKNOWN`,
   * v2 AF_UNSPEC, UDP or AF_UNIX — and the receiver must "use the real connection endpoints".
   */
  readonly address: ProxyAddress | undefined;
  /** v2 only: the TLVs in header order (empty when there are none). Absent for v1. */
  readonly tlvs?: readonly ProxyTlv[];
}

/**
 * Longest v1 line, CRLF included. The spec: "If the CRLF sequence is not found in the first 107 characters, the
 * receiver should declare the line invalid" (the worst case is `PROXY UNKNOWN` followed by two full IPv6 addresses
 * and two 5-digit ports).
 */
export const MAX_PROXY_HEADER_V1 = 107;

/**
 * Longest v2 header accepted, fixed 16 bytes included; the 16-bit length field alone would allow 65,551.
 *
 * The largest address block (AF_UNIX, 216 bytes) plus every TLV the spec registers at a realistic size — ALPN and
 * AUTHORITY (each at most 255 bytes in TLS), CRC32C, UNIQUE_ID ("up to 128 bytes"), an SSL TLV with version,
 * cipher, algorithms and a client certificate CN — stays under 2 KiB; 4 KiB leaves room for cloud load balancers'
 * custom TLVs (0xE0–0xEF) while bounding what a connection must buffer before its ClientHello. The header comes from
 * a trusted front proxy, so a longer one is a misconfiguration, not a case to serve.
 */
export const MAX_PROXY_HEADER_V2 = 4096;

/** "\x0D \x0A \x0D \x0A \x00 \x0D \x0A \x51 \x55 \x49 \x54 \x0A" — "\r\n\r\n\0\r\nQUIT\n". */
const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** Signature, version/command, family/protocol, 16-bit length. */
const V2_FIXED_LENGTH = 16;
const V2_VERSION = 2;
const V2_COMMAND_LOCAL = 0x0;
const V2_COMMAND_PROXY = 0x1;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;
const TLV_HEADER_LENGTH = 3;
const PP2_TYPE_CRC32C = 0x03;
const CRC32C_LENGTH = 4;

/** The family/protocol bytes the spec lists ("In practice, the following protocol bytes are expected"). */
const V2_FAMILIES: Readonly<Record<number, { readonly name: string; readonly addressLength: number }>> = {
  0x00: { name: 'UNSPEC', addressLength: 0 },
  [V2_TCP4]: { name: 'TCP over IPv4', addressLength: 12 },
  0x12: { name: 'UDP over IPv4', addressLength: 12 },
  [V2_TCP6]: { name: 'TCP over IPv6', addressLength: 36 },
  0x22: { name: 'UDP over IPv6', addressLength: 36 },
  0x31: { name: 'UNIX stream', addressLength: 216 },
  0x32: { name: 'UNIX datagram', addressLength: 216 },
};

const V1_PREFIX = 'PROXY ';
const V1_PROTOCOLS = ['TCP4', 'TCP6', 'UNKNOWN'] as const;
const V1_FIELD_NAMES = ['source address', 'destination address', 'source port', 'destination port'] as const;
/** Fields of a TCP4/TCP6 line: PROXY, protocol, two addresses, two ports. */
const V1_TCP_FIELDS = 6;
/** Longest address text that can still parse: 15 for a dotted quad, 45 for IPv6 ending in a dotted quad. */
const V1_MAX_ADDRESS_TEXT = { tcp4: 15, tcp6: 45 } as const;
const V1_ADDRESS_CHARACTERS = { tcp4: /^[0-9.]*$/, tcp6: /^[0-9A-Fa-f:.]*$/ } as const;
/** "Heading zeroes are not permitted in front of numbers in order to avoid any possible confusion with octal". */
const V1_PORT = /^(?:0|[1-9][0-9]{0,4})$/;
const V1_PORT_PREFIX = /^(?:0|[1-9][0-9]{0,4})?$/;
const MAX_PORT = 65_535;
const LF = 0x0a;
/** Bytes of an unrecognised start quoted in the reason. */
const QUOTED_START = 24;
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * Parses the PROXY header at the start of a connection, version 1 or 2.
 *
 * @param bytes Everything received on the connection so far, from its first byte.
 * @returns `complete` with the header and, as `length`, the bytes it occupies (whatever follows — typically the
 *   client's ClientHello — is not consumed); `incomplete` while more bytes could still complete it; `invalid` with a
 *   reason for the log as soon as they cannot. Never throws.
 */
export function parseProxyHeader(bytes: Uint8Array): ParseResult<ProxyHeader> {
  const first = bytes[0];
  if (first === undefined) return INCOMPLETE;
  if (first === V1_PREFIX.charCodeAt(0)) return parseV1(bytes);
  if (first === octet(V2_SIGNATURE, 0)) return parseV2(bytes);
  return notProxy(bytes);
}

/** Explains, for the log, a connection that does not start with either signature. */
function notProxy(bytes: Uint8Array): Stop {
  if (bytes[0] === TLS_HANDSHAKE_RECORD) {
    return invalid(
      'a TLS handshake record where a PROXY header was expected: is the front proxy set to send one ' +
        '(HAProxy send-proxy / send-proxy-v2, nginx proxy_protocol on)?',
    );
  }
  return invalid(
    `not a PROXY header: the connection starts with ${JSON.stringify(latin1(bytes.subarray(0, QUOTED_START)))}; ` +
      `expected "${V1_PREFIX}" (v1, case-sensitive) or the 12-byte v2 signature`,
  );
}

/** Version 1: one line of US-ASCII text ending in CRLF. */
function parseV1(bytes: Uint8Array): ParseResult<ProxyHeader> {
  const limit = Math.min(bytes.length, MAX_PROXY_HEADER_V1);
  let line = '';
  for (let i = 0; i < limit; i++) {
    const byte = octet(bytes, i);
    if (i < V1_PREFIX.length && byte !== V1_PREFIX.charCodeAt(i)) return notProxy(bytes);
    const afterCr = line.endsWith('\r');
    if (byte === LF) {
      // "The receiver must not tolerate a single CR or LF character to end the line when a complete CRLF sequence
      // is expected."
      if (!afterCr) return invalid(`v1 line has a bare LF at byte ${i}: lines end in CRLF`);
      const header = parseV1Line(line.slice(0, -1), true);
      return isStop(header) ? header : complete(header, i + 1);
    }
    if (afterCr) return invalid(`v1 line has a CR not followed by LF at byte ${i - 1}`);
    line += String.fromCharCode(byte);
  }
  if (bytes.length >= MAX_PROXY_HEADER_V1) {
    // "If the CRLF sequence is not found in the first 107 characters, the receiver should declare the line invalid."
    return invalid(`v1 line has no CRLF within its first ${MAX_PROXY_HEADER_V1} bytes`);
  }
  // A final CR ends the last field even though its LF has not arrived, so that field can be judged whole.
  const ended = line.endsWith('\r');
  const verdict = parseV1Line(ended ? line.slice(0, -1) : line, ended);
  return isStop(verdict) ? verdict : INCOMPLETE;
}

/**
 * Checks a v1 line (CRLF excluded) as far as it has arrived.
 *
 * @param ended Whether the line's end has been seen. When it has not, the last field may still grow and is only
 *   checked for characters and length; when nothing is wrong yet, the result is then INCOMPLETE.
 */
function parseV1Line(line: string, ended: boolean): ProxyHeader | Stop {
  if (line.length < V1_PREFIX.length) return INCOMPLETE;
  // "exactly one space": splitting on single spaces turns any doubled, leading or trailing space into an empty
  // field, which no field accepts.
  const fields = line.split(' ');
  const whole = (i: number): boolean => i < fields.length - 1 || ended;
  const protocol = fields[1] ?? '';
  if (!whole(1)) {
    if (V1_PROTOCOLS.some((name) => name.startsWith(protocol))) return INCOMPLETE;
    return invalid(`v1 protocol ${JSON.stringify(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  }
  if (protocol === 'UNKNOWN') {
    // "For "UNKNOWN", the rest of the line before the CRLF may be omitted by the sender, and the receiver must
    // ignore anything presented before the CRLF is found."
    return ended ? { version: 1, command: 'proxy', address: undefined } : INCOMPLETE;
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return invalid(`v1 protocol ${JSON.stringify(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  }
  const family = protocol === 'TCP4' ? 'tcp4' : 'tcp6';
  const addresses: string[] = [];
  const ports: number[] = [];
  for (let i = 2; i < Math.min(fields.length, V1_TCP_FIELDS); i++) {
    const field = fields[i] ?? '';
    const name = V1_FIELD_NAMES[i - 2] ?? 'field';
    const problem =
      i < 4
        ? whole(i)
          ? v1AddressProblem(field, family, addresses)
          : v1AddressPrefixProblem(field, family)
        : whole(i)
          ? v1PortProblem(field, ports)
          : v1PortPrefixProblem(field);
    if (problem !== undefined) return invalid(`v1 ${protocol} ${name} ${JSON.stringify(field)} ${problem}`);
  }
  if (fields.length > V1_TCP_FIELDS) {
    return invalid(`v1 ${protocol} line has more than ${V1_TCP_FIELDS} space-separated fields`);
  }
  if (!ended) return INCOMPLETE;
  const [sourceAddress, destinationAddress] = addresses;
  const [sourcePort, destinationPort] = ports;
  if (sourceAddress === undefined || destinationAddress === undefined || sourcePort === undefined || destinationPort === undefined) {
    const missing = V1_FIELD_NAMES[fields.length - 2] ?? 'field';
    return invalid(`v1 ${protocol} line ends before its ${missing}`);
  }
  return {
    version: 1,
    command: 'proxy',
    address: { family, sourceAddress, sourcePort, destinationAddress, destinationPort },
  };
}

/** Why a whole address field is wrong, or undefined after pushing its canonical text onto `out`. */
function v1AddressProblem(text: string, family: 'tcp4' | 'tcp6', out: string[]): string | undefined {
  if (text === '') return 'is empty (fields are separated by exactly one space)';
  const bytes = family === 'tcp4' ? parseIPv4(text) : v1IPv6(text);
  if (bytes !== undefined) {
    out.push(formatIpAddress(bytes));
    return undefined;
  }
  // "The advertised protocol family dictates what format to use."
  if (family === 'tcp4' && v1IPv6(text) !== undefined) return 'is an IPv6 address in a TCP4 line';
  if (family === 'tcp6' && parseIPv4(text) !== undefined) return 'is an IPv4 address in a TCP6 line';
  return family === 'tcp4'
    ? 'is not a dotted quad (four decimal numbers 0-255, no leading zeros)'
    : 'is not an IPv6 address';
}

/**
 * IPv6 text as the v1 grammar has it: "series of sets of 4 hexadecimal digits (upper or lower case) delimited by
 * colons ... with the acceptance of one double colon sequence". Shorter groups and a trailing dotted quad are
 * accepted too, because HAProxy and nginx format addresses with inet_ntop, which writes `::1` and
 * `::ffff:192.0.2.1`. No zone index: a PROXY header has no room for one.
 */
function v1IPv6(text: string): Uint8Array | undefined {
  return text.includes('%') ? undefined : parseIPv6(text);
}

/** Why an address field still arriving can never become valid, or undefined while it can. */
function v1AddressPrefixProblem(text: string, family: 'tcp4' | 'tcp6'): string | undefined {
  if (!V1_ADDRESS_CHARACTERS[family].test(text)) {
    return `holds a character no ${family === 'tcp4' ? 'IPv4' : 'IPv6'} address has`;
  }
  if (text.length > V1_MAX_ADDRESS_TEXT[family]) return `is longer than any ${family === 'tcp4' ? 'IPv4' : 'IPv6'} address`;
  return undefined;
}

/** Why a whole port field is wrong, or undefined after pushing its value onto `out`. */
function v1PortProblem(text: string, out: number[]): string | undefined {
  if (text === '') return 'is empty (fields are separated by exactly one space)';
  // "the TCP source port represented as a decimal integer in the range [0..65535] inclusive. Heading zeroes are not
  // permitted in front of numbers"
  if (!V1_PORT.test(text)) return 'is not a decimal number without leading zeros';
  const port = Number(text);
  if (port > MAX_PORT) return `is above ${MAX_PORT}`;
  out.push(port);
  return undefined;
}

/** Why a port field still arriving can never become valid, or undefined while it can. */
function v1PortPrefixProblem(text: string): string | undefined {
  if (!V1_PORT_PREFIX.test(text)) return 'is not a decimal number without leading zeros';
  // More digits only make it larger.
  if (Number(text) > MAX_PORT) return `is above ${MAX_PORT}`;
  return undefined;
}

/** Version 2: the binary format. */
function parseV2(bytes: Uint8Array): ParseResult<ProxyHeader> {
  const signatureBytes = Math.min(bytes.length, V2_SIGNATURE.length);
  for (let i = 0; i < signatureBytes; i++) if (bytes[i] !== V2_SIGNATURE[i]) return notProxy(bytes);
  const versionCommand = bytes[12];
  if (versionCommand === undefined) return INCOMPLETE;
  // "The highest four bits contains the version. As of this specification, it must always be sent as \x2 and the
  // receiver must only accept this value."
  if (versionCommand >> 4 !== V2_VERSION) {
    return invalid(`v2 header has version ${versionCommand >> 4} (byte 13 is ${hex(versionCommand)}); only 2 exists`);
  }
  const commandBits = versionCommand & 0x0f;
  // "other values are unassigned and must not be emitted by senders. Receivers must drop connections presenting
  // unexpected values here."
  if (commandBits !== V2_COMMAND_LOCAL && commandBits !== V2_COMMAND_PROXY) {
    return invalid(`v2 header has command ${hex(commandBits)}; only LOCAL (0x0) and PROXY (0x1) exist`);
  }
  const command = commandBits === V2_COMMAND_PROXY ? 'proxy' : 'local';

  const familyByte = bytes[13];
  if (familyByte === undefined) return INCOMPLETE;
  // "other values are unspecified and must not be emitted in version 2 of this protocol and must be rejected as
  // invalid by receivers." Only the combinations the spec lists are taken: they alone say how long the address
  // block is, and so where the TLVs start.
  const layout = V2_FAMILIES[familyByte];
  if (layout === undefined) return invalid(`v2 header has family/protocol byte ${hex(familyByte)}, which the spec does not define`);

  const high = bytes[14];
  const low = bytes[15];
  if (high === undefined || low === undefined) return INCOMPLETE;
  const end = V2_FIXED_LENGTH + high * 256 + low;
  if (end > MAX_PROXY_HEADER_V2) {
    return invalid(`v2 header is ${end} bytes, more than the ${MAX_PROXY_HEADER_V2}-byte cap`);
  }
  // The layout applies to LOCAL as well: without it the TLVs could not be found. Senders do not trip on it, since
  // the spec has them send LOCAL as UNSPEC ("The sender should use this family when sending LOCAL commands") with
  // "this field to zero".
  const tlvStart = V2_FIXED_LENGTH + layout.addressLength;
  if (end < tlvStart) {
    return invalid(`v2 ${layout.name} address block is ${end - V2_FIXED_LENGTH} bytes, shorter than the ${layout.addressLength} it needs`);
  }

  const tlvs = parseTlvs(bytes, tlvStart, end);
  if (isStop(tlvs)) return tlvs;
  if (bytes.length < end) return INCOMPLETE;
  const checksum = verifyCrc32c(bytes, tlvs, tlvStart, end);
  if (checksum !== undefined) return checksum;

  // "A receiver is not required to implement other ones, provided that it automatically falls back to the UNSPEC
  // mode for the valid combinations above that it does not support": UDP and AF_UNIX, like UNSPEC, give no address
  // and the caller uses the real endpoints. For LOCAL the receiver "must use the real connection endpoints and
  // discard the protocol block".
  let address: ProxyAddress | undefined;
  if (command === 'proxy' && familyByte === V2_TCP4) address = v2Address(bytes, 'tcp4', 4);
  else if (command === 'proxy' && familyByte === V2_TCP6) address = v2Address(bytes, 'tcp6', 16);
  return complete({ version: 2, command, address, tlvs }, end);
}

/** Reads the addresses and ports of a complete TCP address block. */
function v2Address(bytes: Uint8Array, family: 'tcp4' | 'tcp6', size: 4 | 16): ProxyAddress {
  const ports = V2_FIXED_LENGTH + 2 * size;
  return {
    family,
    sourceAddress: formatIpAddress(bytes.subarray(V2_FIXED_LENGTH, V2_FIXED_LENGTH + size)),
    sourcePort: octet(bytes, ports) * 256 + octet(bytes, ports + 1),
    destinationAddress: formatIpAddress(bytes.subarray(V2_FIXED_LENGTH + size, ports)),
    destinationPort: octet(bytes, ports + 2) * 256 + octet(bytes, ports + 3),
  };
}

/**
 * Walks the TLVs between `start` and the header's declared `end`, as far as they have arrived: a TLV that cannot
 * fit before `end` is invalid even while its value is still on the way.
 */
function parseTlvs(bytes: Uint8Array, start: number, end: number): ProxyTlv[] | Stop {
  const tlvs: ProxyTlv[] = [];
  for (let pos = start; pos < end; ) {
    // "The first byte is the Type of the vector. The second two bytes represent the length in bytes of the value".
    if (end - pos < TLV_HEADER_LENGTH) {
      return invalid(`v2 header ends with ${end - pos} byte(s) after its last TLV, too few for a TLV header`);
    }
    if (pos + TLV_HEADER_LENGTH > bytes.length) return INCOMPLETE;
    const type = octet(bytes, pos);
    const length = octet(bytes, pos + 1) * 256 + octet(bytes, pos + 2);
    const valueStart = pos + TLV_HEADER_LENGTH;
    if (valueStart + length > end) {
      return invalid(`v2 TLV type ${hex(type)} at byte ${pos} declares ${length} bytes, overrunning the header by ${valueStart + length - end}`);
    }
    if (valueStart + length > bytes.length) return INCOMPLETE;
    // Buffer#slice returns a view, not a copy: copy explicitly.
    tlvs.push({ type, value: new Uint8Array(bytes.subarray(valueStart, valueStart + length)) });
    pos = valueStart + length;
  }
  return tlvs;
}

/** CRC32c (Castagnoli, RFC 4960 Appendix B): reflected polynomial 0x82F63B78, table-driven. */
const CRC32C_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});

/**
 * Checks a PP2_TYPE_CRC32C TLV, if the header has one. The spec: "If the checksum is provided as part of the PROXY
 * header and the checksum functionality is supported by the receiver, the receiver MUST ... replace the 32 bits of
 * the checksum field in the received PROXY header with all '0's and calculate a CRC32c checksum value of the whole
 * PROXY header ... If it is not [the same], the receiver MUST treat the TCP connection providing the header as
 * invalid."
 *
 * @param tlvs The header's TLVs, which lie back to back from `tlvStart`.
 * @returns undefined when there is no checksum or it matches; `invalid` otherwise.
 */
function verifyCrc32c(bytes: Uint8Array, tlvs: readonly ProxyTlv[], tlvStart: number, end: number): Stop | undefined {
  let field: number | undefined;
  let pos = tlvStart;
  for (const tlv of tlvs) {
    if (tlv.type === PP2_TYPE_CRC32C) {
      if (tlv.value.length !== CRC32C_LENGTH) {
        return invalid(`v2 CRC32C TLV holds ${tlv.value.length} bytes instead of ${CRC32C_LENGTH}`);
      }
      // With two checksum fields neither could be computed with the other zeroed: no sender produces that.
      if (field !== undefined) return invalid('v2 header has more than one CRC32C TLV');
      field = pos + TLV_HEADER_LENGTH;
    }
    pos += TLV_HEADER_LENGTH + tlv.value.length;
  }
  if (field === undefined) return undefined;
  let crc = 0xffffffff;
  for (let i = 0; i < end; i++) {
    const byte = i >= field && i < field + CRC32C_LENGTH ? 0 : octet(bytes, i);
    crc = (crc >>> 8) ^ (CRC32C_TABLE[(crc ^ byte) & 0xff] ?? 0);
  }
  const computed = (crc ^ 0xffffffff) >>> 0;
  // HAProxy, the reference sender, writes the value in network byte order.
  let sent = 0;
  for (let i = field; i < field + CRC32C_LENGTH; i++) sent = sent * 256 + octet(bytes, i);
  if (sent === computed) return undefined;
  return invalid(`v2 CRC32C TLV says ${hex(sent, 8)} but the header's checksum is ${hex(computed, 8)}`);
}

/** Parsed endpoints ready to encode, both addresses of the header's family. */
interface Endpoints {
  readonly family: 'tcp4' | 'tcp6';
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly sourcePort: number;
  readonly destinationPort: number;
}

/** `value` when it is a TCP port number, else throws RangeError. */
function checkPort(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_PORT) {
    throw new RangeError(`PROXY ${what} ${String(value)} is not a port (an integer 0-${MAX_PORT})`);
  }
  return value;
}

/** Validates a {@link ProxyAddress} for formatting. */
function endpoints(address: ProxyAddress): Endpoints {
  const { family } = address;
  if (family !== 'tcp4' && family !== 'tcp6') throw new RangeError(`PROXY address family ${String(family)} is not tcp4 or tcp6`);
  const parse = (text: string, what: string): Uint8Array => {
    const bytes = family === 'tcp4' ? parseIPv4(text) : v1IPv6(text);
    if (bytes === undefined) {
      throw new RangeError(`PROXY ${what} ${JSON.stringify(text)} is not an ${family === 'tcp4' ? 'IPv4' : 'IPv6'} address (family ${family})`);
    }
    return bytes;
  };
  return {
    family,
    source: parse(address.sourceAddress, 'source address'),
    destination: parse(address.destinationAddress, 'destination address'),
    sourcePort: checkPort(address.sourcePort, 'source port'),
    destinationPort: checkPort(address.destinationPort, 'destination port'),
  };
}

/**
 * Address text for a v1 line. RFC 5952 §5 writes a v4-mapped address as `::ffff:a.b.c.d`, but the v1 grammar only
 * has "sets of 4 hexadecimal digits ... delimited by colons", so those last 32 bits go out as two hex groups.
 */
function v1AddressText(bytes: Uint8Array): string {
  const text = formatIpAddress(bytes);
  if (bytes.length !== 16 || !text.includes('.')) return text;
  const group = (i: number): string => (octet(bytes, i) * 256 + octet(bytes, i + 1)).toString(16);
  return `::ffff:${group(12)}:${group(14)}`;
}

/**
 * Formats a version 1 header, e.g. `PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n`.
 *
 * Addresses go out in canonical form (IPv6 compressed, lower case, v4-mapped as hex groups); the family is taken as
 * given and both addresses must match it. Pass a socket's endpoints through {@link proxyAddressFromSocket} first:
 * Node reports an IPv4 client of a dual-stack socket as `::ffff:a.b.c.d`, which it turns into `tcp4`.
 *
 * @throws RangeError when an address is not of `family` (or has a zone index) or a port is not an integer 0–65535.
 */
export function formatProxyHeaderV1(address: ProxyAddress): Uint8Array {
  const e = endpoints(address);
  const line = `PROXY ${e.family === 'tcp4' ? 'TCP4' : 'TCP6'} ${v1AddressText(e.source)} ${v1AddressText(e.destination)} ${e.sourcePort} ${e.destinationPort}\r\n`;
  return Uint8Array.from(line, (c) => c.charCodeAt(0));
}

/**
 * Formats a version 2 header: command PROXY, TCP over IPv4 (28 bytes) or IPv6 (52 bytes), no TLVs.
 *
 * @throws RangeError as {@link formatProxyHeaderV1} does.
 */
export function formatProxyHeaderV2(address: ProxyAddress): Uint8Array {
  const e = endpoints(address);
  const size = e.source.length;
  const length = 2 * size + 4;
  const out = new Uint8Array(V2_FIXED_LENGTH + length);
  out.set(V2_SIGNATURE);
  out[12] = (V2_VERSION << 4) | V2_COMMAND_PROXY;
  out[13] = e.family === 'tcp4' ? V2_TCP4 : V2_TCP6;
  out[14] = length >> 8;
  out[15] = length & 0xff;
  out.set(e.source, V2_FIXED_LENGTH);
  out.set(e.destination, V2_FIXED_LENGTH + size);
  const ports = V2_FIXED_LENGTH + 2 * size;
  out[ports] = e.sourcePort >> 8;
  out[ports + 1] = e.sourcePort & 0xff;
  out[ports + 2] = e.destinationPort >> 8;
  out[ports + 3] = e.destinationPort & 0xff;
  return out;
}

/** The 4 IPv4 bytes of a dotted quad or of a v4-mapped IPv6 address (`::ffff:a.b.c.d`), else undefined. */
function ipv4View(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length === 4) return bytes;
  return isIPv4Mapped(bytes) ? bytes.subarray(12) : undefined;
}

/** `a.b.c.d` as the 16 bytes of `::ffff:a.b.c.d`. */
function mapToIPv6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

/**
 * The {@link ProxyAddress} to send for a connection, from its socket's endpoints as Node reports them.
 *
 * A header has one family for both ends, while Node reports IPv4 peers of a dual-stack (`::`) socket as
 * `::ffff:a.b.c.d`. So: when both ends are IPv4 — dotted quads or v4-mapped — the result is `tcp4` with dotted
 * quads (what the backend would have seen from a direct IPv4 connection); otherwise it is `tcp6`, with any IPv4 end
 * written v4-mapped so the header stays valid. Addresses come out canonical (see {@link ProxyAddress}).
 *
 * Also normalises the endpoints of a parsed header the same way, for forwarding them.
 *
 * @param remoteAddress `socket.remoteAddress`: the client, the header's source.
 * @param localAddress `socket.localAddress`: the address the client reached, the header's destination.
 * @throws RangeError when an address is not an IPv4 or IPv6 literal (zone indexes included) or a port is not an
 *   integer 0–65535.
 */
export function proxyAddressFromSocket(remoteAddress: string, remotePort: number, localAddress: string, localPort: number): ProxyAddress {
  const parse = (text: string, what: string): Uint8Array => {
    const bytes = parseIPv4(text) ?? v1IPv6(text);
    if (bytes === undefined) throw new RangeError(`${what} ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
    return bytes;
  };
  const remote = parse(remoteAddress, 'remote address');
  const local = parse(localAddress, 'local address');
  const remote4 = ipv4View(remote);
  const local4 = ipv4View(local);
  const both4 = remote4 !== undefined && local4 !== undefined;
  const source = both4 ? remote4 : mapToIPv6(remote);
  const destination = both4 ? local4 : mapToIPv6(local);
  return {
    family: both4 ? 'tcp4' : 'tcp6',
    sourceAddress: formatIpAddress(source),
    sourcePort: checkPort(remotePort, 'remote port'),
    destinationAddress: formatIpAddress(destination),
    destinationPort: checkPort(localPort, 'local port'),
  };
}
