import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { formatIpAddress, parseIPv4, parseIPv6 } from '../../src/ip-address.js';
import {
  MAX_PROXY_HEADER_V1,
  MAX_PROXY_HEADER_V2,
  formatProxyHeaderV1,
  formatProxyHeaderV2,
  parseProxyHeader,
  proxyAddressFromSocket,
  type ProxyAddress,
  type ProxyHeader,
  type ProxyTlv,
} from '../../src/net/proxy-header.js';
import type { ParseResult } from '../../src/parse-result.js';
import { parseClientHello } from '../../src/tls/client-hello.js';
import {
  GiveUp,
  IN_CI,
  cleanEnv,
  freePort,
  hasIPv6Loopback,
  requirePeers,
  spawnManaged,
  waitUntil,
  which,
  type ManagedProcess,
} from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

// ---------------------------------------------------------------------------------------------------------------
// Byte helpers

/** One byte per character: the spec's strings are US-ASCII, and tests need exact control bytes. */
function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

/** `"0d 0a ff"` → bytes; whitespace ignored. */
function hexBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

const SIGNATURE = hexBytes('0d0a0d0a000d0a515549540a');

/** A v2 header with the given version/command and family bytes, its length field computed from `block`. */
function v2(versionCommand: number, family: number, ...block: readonly Uint8Array[]): Uint8Array {
  const body = concat(...block);
  return concat(SIGNATURE, Uint8Array.of(versionCommand, family), u16(body.length), body);
}

function tlv(type: number, value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === 'string' ? latin1(value) : value;
  return concat(Uint8Array.of(type), u16(bytes.length), bytes);
}

/**
 * CRC32c written independently of the module's table-driven one: bit by bit, straight from the polynomial
 * (reflected 0x82F63B78).
 */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Fills the (zeroed) 4-byte CRC32C value that starts at `field` in `header`, as a sender does. */
function sealCrc32c(header: Uint8Array, field: number): Uint8Array {
  const out = new Uint8Array(header);
  out.fill(0, field, field + 4);
  new DataView(out.buffer).setUint32(field, crc32cBitwise(out));
  return out;
}

/** A real ClientHello (curl, HTTP/2) to put after headers: the bytes a front proxy forwards next. */
const CLIENT_HELLO = new Uint8Array(readFileSync(new URL('../fixtures/client-hello/curl-http2.bin', import.meta.url)));

// ---------------------------------------------------------------------------------------------------------------
// Result helpers

function completeValue(result: ParseResult<ProxyHeader>): { value: ProxyHeader; length: number } {
  assert.equal(result.status, 'complete', result.status === 'invalid' ? result.reason : 'incomplete');
  return result as { value: ProxyHeader; length: number };
}

function reasonOf(result: ParseResult<ProxyHeader>): string {
  assert.equal(result.status, 'invalid', `expected invalid, got ${result.status}`);
  return (result as { reason: string }).reason;
}

/** Ks in [0, bytes.length) at which the prefix is not `incomplete`. */
function nonIncompletePrefixes(bytes: Uint8Array): number[] {
  const bad: number[] = [];
  for (let k = 0; k < bytes.length; k++) if (parseProxyHeader(bytes.subarray(0, k)).status !== 'incomplete') bad.push(k);
  return bad;
}

/** Asserts that a verdict is one of the three, and that a `complete` one describes a sane header. */
function assertWellFormed(result: ParseResult<ProxyHeader>, input: Uint8Array): void {
  if (result.status === 'incomplete') return;
  if (result.status === 'invalid') {
    assert.equal(typeof result.reason, 'string');
    assert.ok(result.reason.length > 0);
    return;
  }
  assert.equal(result.status, 'complete');
  assert.ok(Number.isInteger(result.length) && result.length >= 1 && result.length <= input.length, `length ${result.length}`);
  const header = result.value;
  assert.ok(header.version === 1 || header.version === 2);
  assert.ok(header.command === 'proxy' || header.command === 'local');
  if (header.version === 1) {
    assert.ok(result.length <= MAX_PROXY_HEADER_V1);
    assert.equal(header.tlvs, undefined);
  } else {
    assert.ok(result.length <= MAX_PROXY_HEADER_V2);
    assert.ok(Array.isArray(header.tlvs));
  }
  const address = header.address;
  if (address === undefined) return;
  assert.equal(header.command, 'proxy');
  const parse = address.family === 'tcp4' ? parseIPv4 : parseIPv6;
  for (const text of [address.sourceAddress, address.destinationAddress]) {
    const bytes = parse(text);
    assert.ok(bytes !== undefined, `${text} is a ${address.family} address`);
    assert.equal(formatIpAddress(bytes), text, 'addresses come out canonical');
  }
  for (const port of [address.sourcePort, address.destinationPort]) assert.ok(Number.isInteger(port) && port >= 0 && port <= 65535);
}

/**
 * The eager-parser contract between a buffer and one of its prefixes: a prefix never contradicts the whole. A
 * complete header is complete in every prefix that holds it and incomplete in every shorter one; an invalid prefix
 * makes the whole invalid.
 */
function assertConsistent(bytes: Uint8Array, cut: number): void {
  const whole = parseProxyHeader(bytes);
  assertWellFormed(whole, bytes);
  const prefix = bytes.subarray(0, Math.min(cut, bytes.length));
  const part = parseProxyHeader(prefix);
  assertWellFormed(part, prefix);
  if (whole.status === 'complete') {
    if (prefix.length >= whole.length) {
      assert.equal(part.status, 'complete');
      assert.equal((part as { length: number }).length, whole.length);
      assert.deepEqual((part as { value: ProxyHeader }).value, whole.value);
    } else {
      assert.equal(part.status, 'incomplete', `prefix of ${prefix.length} of a ${whole.length}-byte header`);
    }
  } else if (whole.status === 'incomplete') {
    assert.equal(part.status, 'incomplete');
  } else {
    assert.notEqual(part.status, 'complete');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Known-good headers

const FFFF6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

interface Known {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly header: ProxyHeader;
}

function tcp(family: 'tcp4' | 'tcp6', sourceAddress: string, destinationAddress: string, sourcePort: number, destinationPort: number): ProxyAddress {
  return { family, sourceAddress, sourcePort, destinationAddress, destinationPort };
}

const V1_KNOWN: readonly Known[] = [
  {
    name: 'spec: longest TCP4 line (56 chars)',
    bytes: latin1('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'),
    header: { version: 1, command: 'proxy', address: tcp('tcp4', '255.255.255.255', '255.255.255.255', 65535, 65535) },
  },
  {
    name: 'spec: longest TCP6 line (104 chars)',
    bytes: latin1(`PROXY TCP6 ${FFFF6} ${FFFF6} 65535 65535\r\n`),
    header: { version: 1, command: 'proxy', address: tcp('tcp6', FFFF6, FFFF6, 65535, 65535) },
  },
  {
    name: 'spec: UNKNOWN, short form (15 chars)',
    bytes: latin1('PROXY UNKNOWN\r\n'),
    header: { version: 1, command: 'proxy', address: undefined },
  },
  {
    name: 'spec: worst case, UNKNOWN with every optional field (107 chars)',
    bytes: latin1(`PROXY UNKNOWN ${FFFF6} ${FFFF6} 65535 65535\r\n`),
    header: { version: 1, command: 'proxy', address: undefined },
  },
  {
    name: 'spec: the example before an HTTP request',
    bytes: latin1('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
    header: { version: 1, command: 'proxy', address: tcp('tcp4', '192.168.0.1', '192.168.0.11', 56324, 443) },
  },
  {
    name: 'zeros: address 0.0.0.0, port 0',
    bytes: latin1('PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n'),
    header: { version: 1, command: 'proxy', address: tcp('tcp4', '0.0.0.0', '0.0.0.0', 0, 0) },
  },
  {
    name: 'TCP6 in upper case and uncompressed comes out canonical',
    bytes: latin1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 0000:0000:0000:0000:0000:0000:0000:0001 1 65535\r\n'),
    header: { version: 1, command: 'proxy', address: tcp('tcp6', '2001:db8::1', '::1', 1, 65535) },
  },
  {
    name: 'TCP6 v4-mapped with a dotted tail, as HAProxy writes it for a v4v6 bind',
    bytes: latin1('PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 58392 19003\r\n'),
    header: { version: 1, command: 'proxy', address: tcp('tcp6', '::ffff:127.0.0.1', '::ffff:127.0.0.1', 58392, 19003) },
  },
  {
    name: 'TCP6 v4-mapped in hex groups, as formatProxyHeaderV1 writes it',
    bytes: latin1('PROXY TCP6 ::ffff:c000:201 2001:db8::7 51234 443\r\n'),
    header: { version: 1, command: 'proxy', address: tcp('tcp6', '::ffff:192.0.2.1', '2001:db8::7', 51234, 443) },
  },
  {
    name: 'UNKNOWN: anything before the CRLF is ignored',
    bytes: latin1('PROXY UNKNOWN what\tever \x00\xff  goes\r\n'),
    header: { version: 1, command: 'proxy', address: undefined },
  },
];

/** Captured from HAProxy 2.6.12 (`send-proxy-v2 proxy-v2-options crc32c,unique-id`, `check`). */
const HAPROXY_CAPTURES: readonly Known[] = [
  {
    name: 'HAProxy health check: LOCAL, UNSPEC, one CRC32C TLV',
    bytes: hexBytes('0d0a0d0a000d0a515549540a 20 00 0007 030004a9b87e8f'),
    header: { version: 2, command: 'local', address: undefined, tlvs: [{ type: 3, value: hexBytes('a9b87e8f') }] },
  },
  {
    name: 'HAProxy TCP over IPv4 with CRC32C and UNIQUE_ID',
    bytes: hexBytes(
      '0d0a0d0a000d0a515549540a 21 11 0044 7f000001 7f000001 8bc2 4a3a 030004254e4fdd' +
        '05002e37463030303030313a384243325f37463030303030313a344133415f36423041463541415f303030313a36463846',
    ),
    header: {
      version: 2,
      command: 'proxy',
      address: tcp('tcp4', '127.0.0.1', '127.0.0.1', 35778, 19002),
      tlvs: [
        { type: 3, value: hexBytes('254e4fdd') },
        { type: 5, value: latin1('7F000001:8BC2_7F000001:4A3A_6B0AF5AA_0001:6F8F') },
      ],
    },
  },
  {
    name: 'HAProxy TCP over IPv6 with CRC32C and an empty UNIQUE_ID',
    bytes: hexBytes(
      '0d0a0d0a000d0a515549540a 21 21 002e 00000000000000000000000000000001 00000000000000000000000000000001' +
        'badc 4a3c 030004909809d9 050000',
    ),
    header: {
      version: 2,
      command: 'proxy',
      address: tcp('tcp6', '::1', '::1', 47836, 19004),
      tlvs: [
        { type: 3, value: hexBytes('909809d9') },
        { type: 5, value: new Uint8Array(0) },
      ],
    },
  },
];

/** A header with a CRC32C TLV sealed by the independent bitwise implementation. */
const SEALED: Known = (() => {
  const field = 16 + 12 + 3 + 9 + 3;
  const bytes = sealCrc32c(v2(0x21, 0x11, hexBytes('c0000201 c6336407 c822 01bb'), tlv(0x02, 'a.example'), tlv(0x03, new Uint8Array(4))), field);
  return {
    name: 'CRC32C sealed by the independent bitwise implementation',
    bytes,
    header: {
      version: 2,
      command: 'proxy',
      address: tcp('tcp4', '192.0.2.1', '198.51.100.7', 51234, 443),
      tlvs: [
        { type: 0x02, value: latin1('a.example') },
        { type: 0x03, value: bytes.slice(field, field + 4) },
      ],
    },
  };
})();

const UNIX_PATH = new Uint8Array(108);
UNIX_PATH.set(latin1('/run/client.sock'));

const V2_KNOWN: readonly Known[] = [
  {
    name: 'TCP over IPv4, no TLVs',
    bytes: v2(0x21, 0x11, hexBytes('c0000201 c6336407 c822 01bb')),
    header: { version: 2, command: 'proxy', address: tcp('tcp4', '192.0.2.1', '198.51.100.7', 51234, 443), tlvs: [] },
  },
  {
    name: 'TCP over IPv6, no TLVs',
    bytes: v2(0x21, 0x21, hexBytes('20010db8000000000000000000000001 20010db8000000000000000000000002 0000 ffff')),
    header: { version: 2, command: 'proxy', address: tcp('tcp6', '2001:db8::1', '2001:db8::2', 0, 65535), tlvs: [] },
  },
  {
    name: 'TCP over IPv6 with a v4-mapped source',
    bytes: v2(0x21, 0x21, hexBytes('00000000000000000000ffffc0000201 20010db8000000000000000000000002 0001 0002')),
    header: { version: 2, command: 'proxy', address: tcp('tcp6', '::ffff:192.0.2.1', '2001:db8::2', 1, 2), tlvs: [] },
  },
  {
    name: 'LOCAL, UNSPEC, nothing else (16 bytes)',
    bytes: v2(0x20, 0x00),
    header: { version: 2, command: 'local', address: undefined, tlvs: [] },
  },
  {
    name: 'LOCAL with an IPv4 block: the block is skipped, no address',
    bytes: v2(0x20, 0x11, hexBytes('c0000201 c6336407 c822 01bb')),
    header: { version: 2, command: 'local', address: undefined, tlvs: [] },
  },
  {
    name: 'PROXY with AF_UNSPEC: accepted, no address (the spec lets the receiver use the real endpoints)',
    bytes: v2(0x21, 0x00),
    header: { version: 2, command: 'proxy', address: undefined, tlvs: [] },
  },
  {
    name: 'UDP over IPv4: falls back to UNSPEC, no address',
    bytes: v2(0x21, 0x12, hexBytes('c0000201 c6336407 c822 0035')),
    header: { version: 2, command: 'proxy', address: undefined, tlvs: [] },
  },
  {
    name: 'UDP over IPv6: falls back to UNSPEC, no address',
    bytes: v2(0x21, 0x22, new Uint8Array(36)),
    header: { version: 2, command: 'proxy', address: undefined, tlvs: [] },
  },
  {
    name: 'UNIX stream (216-byte block) with a TLV after it: no address, TLV kept',
    bytes: v2(0x21, 0x31, UNIX_PATH, UNIX_PATH, tlv(0x30, 'netns1')),
    header: { version: 2, command: 'proxy', address: undefined, tlvs: [{ type: 0x30, value: latin1('netns1') }] },
  },
  {
    name: 'UNIX datagram',
    bytes: v2(0x21, 0x32, new Uint8Array(216)),
    header: { version: 2, command: 'proxy', address: undefined, tlvs: [] },
  },
  {
    name: 'TLVs kept in order, empty values included',
    bytes: v2(
      0x21,
      0x11,
      hexBytes('0a000001 0a000002 1f90 01bb'),
      tlv(0x01, 'h2'),
      tlv(0x02, 'example.com'),
      tlv(0x04, ''),
      tlv(0x20, hexBytes('05 00000000 210007544c5376312e33')),
      tlv(0xe0, hexBytes('deadbeef')),
    ),
    header: {
      version: 2,
      command: 'proxy',
      address: tcp('tcp4', '10.0.0.1', '10.0.0.2', 8080, 443),
      tlvs: [
        { type: 0x01, value: latin1('h2') },
        { type: 0x02, value: latin1('example.com') },
        { type: 0x04, value: new Uint8Array(0) },
        { type: 0x20, value: hexBytes('05 00000000 210007544c5376312e33') },
        { type: 0xe0, value: hexBytes('deadbeef') },
      ],
    },
  },
  SEALED,
  ...HAPROXY_CAPTURES,
];

const ALL_KNOWN: readonly Known[] = [...V1_KNOWN, ...V2_KNOWN];

t.test('v1: the spec\'s examples and other valid lines', async (t) => {
  for (const known of V1_KNOWN) {
    const { value, length } = completeValue(parseProxyHeader(known.bytes));
    t.same(value, known.header, known.name);
    t.equal(length, known.bytes.length, `${known.name}: length`);
  }
  t.equal(V1_KNOWN[0]?.bytes.length, 56, 'spec: TCP4 worst case is 56 chars');
  t.equal(V1_KNOWN[1]?.bytes.length, 104, 'spec: TCP6 worst case is 104 chars');
  t.equal(V1_KNOWN[2]?.bytes.length, 15, 'spec: short UNKNOWN is 15 chars');
  t.equal(V1_KNOWN[3]?.bytes.length, MAX_PROXY_HEADER_V1, 'spec: the worst case is MAX_PROXY_HEADER_V1');
  t.equal(MAX_PROXY_HEADER_V1, 107);
});

t.test('v2: hand-written headers and HAProxy captures', async (t) => {
  for (const known of V2_KNOWN) {
    const { value, length } = completeValue(parseProxyHeader(known.bytes));
    t.same(value, known.header, known.name);
    t.equal(length, known.bytes.length, `${known.name}: length`);
  }
});

t.test('v2: TLV values are copies, not views of the receive buffer', async (t) => {
  const bytes = Buffer.from(v2(0x21, 0x00, tlv(0x02, 'example.com')));
  const { value } = completeValue(parseProxyHeader(bytes));
  bytes.fill(0x41);
  t.same(value.tlvs, [{ type: 0x02, value: latin1('example.com') }]);
  t.equal(Object.getPrototypeOf(value.tlvs?.[0]?.value), Uint8Array.prototype, 'a plain Uint8Array even from a Buffer');
});

t.test('CRC32C: the independent test implementation meets the standard check value', async (t) => {
  // RFC 3720 / iSCSI CRC32c catalogue: CRC-32C("123456789") = 0xE3069283.
  t.equal(crc32cBitwise(latin1('123456789')), 0xe3069283);
  // HAProxy's capture verifies against it too.
  const local = HAPROXY_CAPTURES[0]?.bytes ?? new Uint8Array(0);
  t.equal(crc32cBitwise(concat(local.subarray(0, 19), new Uint8Array(4))), 0xa9b87e8f);
});

t.test('CRC32C: every single-bit flip in a sealed header is rejected, except in the TLV type that asks for the check', async (t) => {
  // [header, offset of its CRC32C TLV's type byte]. Flipping that byte turns the checksum into another TLV, and
  // nothing is left to verify: the spec's checksum cannot cover its own presence.
  const sealed: ReadonlyArray<readonly [Uint8Array, number]> = [
    [SEALED.bytes, 16 + 12 + 12],
    ...HAPROXY_CAPTURES.map((k) => [k.bytes, 16 + ((k.header.address?.family === 'tcp6' ? 36 : k.header.address ? 12 : 0))] as const),
  ];
  let flips = 0;
  for (const [header, crcType] of sealed) {
    t.equal(header[crcType], 0x03, 'the CRC32C TLV is where the test expects it');
    for (let i = 0; i < header.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = new Uint8Array(header);
        flipped[i] = (flipped[i] ?? 0) ^ (1 << bit);
        const status = parseProxyHeader(flipped).status;
        if (i === crcType) {
          if (status !== 'complete') t.fail(`flip of the CRC32C type byte, bit ${bit}: the header no longer asks for a check`);
        } else if (status === 'complete') {
          t.fail(`flip of byte ${i} bit ${bit} accepted`);
        }
        flips++;
      }
    }
  }
  t.ok(flips > 1500, `${flips} flips, none accepted outside the CRC32C type byte`);
  const last = SEALED.bytes.length - 1;
  t.match(
    reasonOf(parseProxyHeader(concat(SEALED.bytes.subarray(0, last), Uint8Array.of((SEALED.bytes[last] ?? 0) ^ 1)))),
    /CRC32C TLV says 0x[0-9a-f]{8} but the header's checksum is 0x[0-9a-f]{8}/,
  );
});

t.test('every strict prefix of a valid header is incomplete, the whole is complete', async (t) => {
  for (const known of ALL_KNOWN) {
    t.same(nonIncompletePrefixes(known.bytes), [], `${known.name}: prefixes`);
  }
  t.equal(parseProxyHeader(new Uint8Array(0)).status, 'incomplete', 'nothing yet');
});

t.test('what follows the header is not consumed', async (t) => {
  const followers: ReadonlyArray<readonly [string, Uint8Array]> = [
    ['a TLS ClientHello', CLIENT_HELLO],
    ['an HTTP request', latin1('GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n')],
    ['another PROXY header', latin1('PROXY UNKNOWN\r\n')],
    ['a lone CRLF', latin1('\r\n')],
  ];
  for (const known of ALL_KNOWN) {
    for (const [what, follower] of followers) {
      const bytes = concat(known.bytes, follower);
      const { value, length } = completeValue(parseProxyHeader(bytes));
      t.equal(length, known.bytes.length, `${known.name} + ${what}: length`);
      assert.deepEqual(value, completeValue(parseProxyHeader(known.bytes)).value);
      t.same(bytes.subarray(length), follower, `${known.name} + ${what}: the rest is untouched`);
    }
    const hello = parseClientHello(concat(known.bytes, CLIENT_HELLO).subarray(known.bytes.length));
    t.equal(hello.status, 'complete', `${known.name}: the ClientHello after it parses`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Invalid input

t.test('invalid headers are refused with a precise reason', async (t) => {
  const tcp4Block = hexBytes('c0000201 c6336407 c822 01bb');
  const cases: ReadonlyArray<readonly [string, Uint8Array, RegExp]> = [
    // First byte / signatures.
    ['lowercase "proxy"', latin1('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /not a PROXY header: the connection starts with "proxy TCP4 1\.2\.3\.4 5\.6\.7"; expected "PROXY " \(v1, case-sensitive\)/],
    ['"PROXY" without its space', latin1('PROXY\r\n'), /not a PROXY header: the connection starts with "PROXY\\r\\n"/],
    ['an HTTP request', latin1('POST / HTTP/1.1\r\n'), /not a PROXY header: the connection starts with "POST \/ HTTP/],
    ['a TLS ClientHello', CLIENT_HELLO, /TLS handshake record where a PROXY header was expected/],
    ['a NUL byte', Uint8Array.of(0), /starts with "\\u0000"/],
    ['bad v2 signature (QUIT → QUIX)', concat(hexBytes('0d0a0d0a000d0a515549580a'), hexBytes('2111000c'), tcp4Block), /not a PROXY header.*v2 signature/],
    ['CRLF CRLF but no v2 signature', latin1('\r\n\r\nGET'), /not a PROXY header/],
    // v2 fixed fields.
    ['v2 with version 1', v2(0x11, 0x11, tcp4Block), /version 1 \(byte 13 is 0x11\); only 2 exists/],
    ['v2 with version 3', v2(0x31, 0x11, tcp4Block), /version 3/],
    ['v2 with version 0', v2(0x01, 0x11, tcp4Block), /version 0/],
    ['v2 with command 0x3', v2(0x23, 0x11, tcp4Block), /command 0x03; only LOCAL \(0x0\) and PROXY \(0x1\) exist/],
    ['v2 with command 0xf', v2(0x2f, 0x11, tcp4Block), /command 0x0f/],
    ['v2 family byte 0x13 (IPv4, protocol 3)', v2(0x21, 0x13, tcp4Block), /family\/protocol byte 0x13/],
    ['v2 family byte 0x41 (family 4)', v2(0x21, 0x41, tcp4Block), /family\/protocol byte 0x41/],
    ['v2 family byte 0x10 (IPv4, UNSPEC protocol)', v2(0x21, 0x10, tcp4Block), /family\/protocol byte 0x10/],
    ['v2 IPv4 block of 11 bytes', v2(0x21, 0x11, tcp4Block.subarray(0, 11)), /TCP over IPv4 address block is 11 bytes, shorter than the 12/],
    ['v2 IPv6 block of 12 bytes', v2(0x21, 0x21, tcp4Block), /TCP over IPv6 address block is 12 bytes, shorter than the 36/],
    ['v2 UNIX block of 215 bytes', v2(0x21, 0x31, new Uint8Array(215)), /UNIX stream address block is 215 bytes/],
    ['v2 LOCAL claiming IPv4 with no block', v2(0x20, 0x11), /address block is 0 bytes, shorter than the 12/],
    ['v2 longer than the cap', concat(SIGNATURE, hexBytes('2100'), u16(MAX_PROXY_HEADER_V2 - 15)), /4097 bytes, more than the 4096-byte cap/],
    ['v2 length field at its maximum', concat(SIGNATURE, hexBytes('2100 ffff')), /65551 bytes, more than the 4096-byte cap/],
    // v2 TLVs.
    ['TLV overruns the header', v2(0x21, 0x11, tcp4Block, hexBytes('02 0005 6162')), /TLV type 0x02 at byte 28 declares 5 bytes, overrunning the header by 3/],
    ['second TLV overruns the header', v2(0x21, 0x11, tcp4Block, tlv(0x04, ''), hexBytes('02 0100')), /TLV type 0x02 at byte 31 declares 256 bytes, overrunning the header by 256/],
    ['one stray byte after the TLVs', v2(0x21, 0x11, tcp4Block, tlv(0x04, 'x'), hexBytes('02')), /ends with 1 byte\(s\) after its last TLV/],
    ['two stray bytes after the address', v2(0x21, 0x11, tcp4Block, hexBytes('0200')), /ends with 2 byte\(s\) after its last TLV/],
    ['CRC32C mismatch', v2(0x21, 0x11, tcp4Block, tlv(0x03, hexBytes('00000000'))), /CRC32C TLV says 0x00000000 but the header's checksum is 0x/],
    ['CRC32C TLV of 3 bytes', v2(0x21, 0x11, tcp4Block, tlv(0x03, hexBytes('000000'))), /CRC32C TLV holds 3 bytes instead of 4/],
    ['two CRC32C TLVs', v2(0x21, 0x00, tlv(0x03, new Uint8Array(4)), tlv(0x03, new Uint8Array(4))), /more than one CRC32C TLV/],
    // v1 line framing.
    ['v1 without CRLF in 107 bytes', latin1(`PROXY UNKNOWN ${'x'.repeat(MAX_PROXY_HEADER_V1 - 14)}`), /no CRLF within its first 107 bytes/],
    ['v1 line of 108 bytes', latin1(`PROXY UNKNOWN ${'x'.repeat(MAX_PROXY_HEADER_V1 - 15)}\r\n`), /no CRLF within its first 107 bytes/],
    ['v1 ending in a bare LF', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), /bare LF at byte 30/],
    ['v1 ending in a bare CR', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), /CR not followed by LF at byte 30/],
    ['v1 with CR CR LF', latin1('PROXY UNKNOWN\r\r\n'), /CR not followed by LF at byte 13/],
    ['v1 UNKNOWN with a bare LF inside', latin1('PROXY UNKNOWN a\nb\r\n'), /bare LF at byte 15/],
    // v1 fields.
    ['family mismatch: IPv6 in TCP4', latin1('PROXY TCP4 1.2.3.4 ::1 1 2\r\n'), /TCP4 destination address "::1" is an IPv6 address in a TCP4 line/],
    ['family mismatch: IPv4 in TCP6', latin1('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), /TCP6 source address "1\.2\.3\.4" is an IPv4 address in a TCP6 line/],
    ['port 65536', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), /source port "65536" is above 65535/],
    ['destination port 99999', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n'), /destination port "99999" is above 65535/],
    ['port with a leading zero', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), /source port "01" is not a decimal number without leading zeros/],
    ['port 00', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n'), /destination port "00"/],
    ['port with a sign', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'), /source port "\+1"/],
    ['port in hex', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n'), /source port "0x1"/],
    ['double space after PROXY', latin1('PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /protocol "" is not TCP4, TCP6 or UNKNOWN/],
    ['double space between addresses', latin1('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n'), /destination address "" is empty \(fields are separated by exactly one space\)/],
    ['double space between ports', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n'), /destination port "" is empty/],
    ['trailing space', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'), /more than 6 space-separated fields/],
    ['tab instead of space', latin1('PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n'), /protocol "TCP4\\t1\.2\.3\.4" is not TCP4, TCP6 or UNKNOWN/],
    ['lowercase protocol', latin1('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'), /protocol "tcp4"/],
    ['protocol TCP5', latin1('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), /protocol "TCP5"/],
    ['UNKNOWN with a suffix', latin1('PROXY UNKNOWNX\r\n'), /protocol "UNKNOWNX"/],
    ['bare "PROXY " line', latin1('PROXY \r\n'), /protocol ""/],
    ['TCP4 without addresses', latin1('PROXY TCP4\r\n'), /TCP4 line ends before its source address/],
    ['TCP4 without ports', latin1('PROXY TCP4 1.2.3.4 5.6.7.8\r\n'), /ends before its source port/],
    ['TCP6 without destination port', latin1('PROXY TCP6 ::1 ::1 1\r\n'), /ends before its destination port/],
    ['IPv4 with a leading zero', latin1('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'), /source address "01\.2\.3\.4" is not a dotted quad/],
    ['IPv4 octet 256', latin1('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'), /"1\.2\.3\.256" is not a dotted quad/],
    ['IPv4 with three parts', latin1('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'), /"1\.2\.3" is not a dotted quad/],
    ['IPv4 as one number', latin1('PROXY TCP4 16909060 5.6.7.8 1 2\r\n'), /"16909060" is not a dotted quad/],
    ['IPv6 with a zone', latin1('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), /source address "fe80::1%eth0" is not an IPv6 address/],
    ['IPv6 with two "::"', latin1('PROXY TCP6 1::2::3 ::1 1 2\r\n'), /"1::2::3" is not an IPv6 address/],
    ['IPv6 with nine groups', latin1('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'), /is not an IPv6 address/],
    ['IPv6 group of 5 digits', latin1('PROXY TCP6 00001:: ::1 1 2\r\n'), /"00001::" is not an IPv6 address/],
    ['IPv6 in brackets', latin1('PROXY TCP6 [::1] ::1 1 2\r\n'), /"\[::1\]" is not an IPv6 address/],
    ['non-ASCII in an address', latin1('PROXY TCP4 1.2.3.\xb9 5.6.7.8 1 2\r\n'), /is not a dotted quad/],
  ];
  for (const [name, bytes, reason] of cases) {
    t.match(reasonOf(parseProxyHeader(bytes)), reason, name);
    // Nothing after the bytes could rescue them.
    t.equal(parseProxyHeader(concat(bytes, latin1('\r\n'), CLIENT_HELLO)).status, 'invalid', `${name}: stays invalid`);
  }
});

t.test('eager verdicts: invalid as soon as the bytes so far can never form a header', async (t) => {
  const cases: ReadonlyArray<readonly [string, Uint8Array, RegExp]> = [
    ['first byte lowercase p', latin1('p'), /not a PROXY header/],
    ['first byte of a ClientHello', Uint8Array.of(0x16), /TLS handshake record/],
    ['second byte wrong', latin1('PR0'), /not a PROXY header/],
    ['v2 signature wrong at byte 5', hexBytes('0d0a0d0a0001'), /not a PROXY header/],
    ['v2 version known from 13 bytes', concat(SIGNATURE, Uint8Array.of(0x11)), /version 1/],
    ['v2 command known from 13 bytes', concat(SIGNATURE, Uint8Array.of(0x23)), /command 0x03/],
    ['v2 family known from 14 bytes', concat(SIGNATURE, Uint8Array.of(0x21, 0x51)), /family\/protocol byte 0x51/],
    ['v2 cap known from 16 bytes', concat(SIGNATURE, hexBytes('2111 1000')), /more than the 4096-byte cap/],
    ['v2 short block known from 16 bytes', concat(SIGNATURE, hexBytes('2121 0010')), /shorter than the 36/],
    ['TLV overrun known before its value arrives', concat(SIGNATURE, hexBytes('2100 0005 02 0009')), /declares 9 bytes, overrunning/],
    ['stray TLV bytes known from the length', concat(SIGNATURE, hexBytes('2100 0002')), /ends with 2 byte\(s\) after its last TLV/],
    ['double space after PROXY', latin1('PROXY  '), /protocol ""/],
    ['protocol that no name starts with', latin1('PROXY TCP5'), /protocol "TCP5"/],
    ['protocol in lower case', latin1('PROXY t'), /protocol "t"/],
    ['UNKNOWN overlong name', latin1('PROXY UNKNOWNN'), /protocol "UNKNOWNN"/],
    ['IPv6 characters in a TCP4 address', latin1('PROXY TCP4 1.2.3.4 5:'), /destination address "5:" holds a character no IPv4 address has/],
    ['a zone index in a TCP6 address', latin1('PROXY TCP6 fe80::1%'), /source address "fe80::1%" holds a character no IPv6 address has/],
    ['a TCP4 address too long to be one', latin1('PROXY TCP4 1111111111111111'), /is longer than any IPv4 address/],
    ['a TCP6 address too long to be one', latin1(`PROXY TCP6 ${'1'.repeat(46)}`), /is longer than any IPv6 address/],
    ['a complete bad address', latin1('PROXY TCP4 1.2.3.400 '), /"1\.2\.3\.400" is not a dotted quad/],
    ['port above 65535 while still arriving', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 65536'), /"65536" is above 65535/],
    ['six-digit port while still arriving', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 100000'), /"100000"/],
    ['leading zero port while still arriving', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 00'), /"00" is not a decimal number without leading zeros/],
    ['a seventh field', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 '), /more than 6/],
    ['line ended by CR before the ports', latin1('PROXY TCP4 1.2.3.4 5.6.7.8\r'), /ends before its source port/],
    ['CR followed by something else', latin1('PROXY UNKNOWN\rx'), /CR not followed by LF/],
  ];
  for (const [name, bytes, reason] of cases) {
    t.match(reasonOf(parseProxyHeader(bytes)), reason, name);
    t.equal(parseProxyHeader(bytes.subarray(0, -1)).status, 'incomplete', `${name}: one byte less is still incomplete`);
  }
});

t.test('length bounds', async (t) => {
  const pad = (n: number): string => 'x'.repeat(n);
  // "PROXY UNKNOWN " is 14 characters: 91 more and CRLF make 107.
  t.equal(completeValue(parseProxyHeader(latin1(`PROXY UNKNOWN ${pad(91)}\r\n`))).length, 107, 'a 107-byte v1 line');
  t.equal(parseProxyHeader(latin1(`PROXY UNKNOWN ${pad(92)}`)).status, 'incomplete', '106 bytes without CRLF');
  t.equal(parseProxyHeader(latin1(`PROXY UNKNOWN ${pad(92)}\r`)).status, 'invalid', '107 bytes ending in CR: the LF would be byte 108');
  t.equal(parseProxyHeader(latin1(`PROXY UNKNOWN ${pad(93)}`)).status, 'invalid', '107 bytes without CRLF');
  t.equal(parseProxyHeader(latin1(`PROXY UNKNOWN ${pad(500)}`)).status, 'invalid', 'far more without CRLF');

  const atCap = v2(0x21, 0x00, tlv(0x04, new Uint8Array(MAX_PROXY_HEADER_V2 - 16 - 3)));
  t.equal(atCap.length, MAX_PROXY_HEADER_V2);
  t.equal(completeValue(parseProxyHeader(atCap)).length, MAX_PROXY_HEADER_V2, 'a v2 header of exactly the cap');
  const overCap = v2(0x21, 0x00, tlv(0x04, new Uint8Array(MAX_PROXY_HEADER_V2 - 16 - 2)));
  t.equal(parseProxyHeader(overCap).status, 'invalid', 'one byte over the cap');
  t.equal(parseProxyHeader(overCap.subarray(0, 16)).status, 'invalid', 'judged from the fixed 16 bytes alone');
});

// ---------------------------------------------------------------------------------------------------------------
// Formatting

t.test('formatProxyHeaderV1: exact lines', async (t) => {
  const line = (address: ProxyAddress): string => Buffer.from(formatProxyHeaderV1(address)).toString('latin1');
  t.equal(line(tcp('tcp4', '1.2.3.4', '5.6.7.8', 111, 222)), 'PROXY TCP4 1.2.3.4 5.6.7.8 111 222\r\n');
  t.equal(line(tcp('tcp4', '255.255.255.255', '0.0.0.0', 65535, 0)), 'PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n');
  t.equal(line(tcp('tcp6', '2001:DB8:0:0:0:0:0:1', '::1', 51234, 443)), 'PROXY TCP6 2001:db8::1 ::1 51234 443\r\n', 'canonical IPv6');
  t.equal(line(tcp('tcp6', FFFF6, FFFF6, 65535, 65535)).length, 104, 'the longest TCP6 line');
  t.equal(
    line(tcp('tcp6', '::ffff:192.0.2.1', '::FFFF:c633:6407', 1, 2)),
    'PROXY TCP6 ::ffff:c000:201 ::ffff:c633:6407 1 2\r\n',
    'v4-mapped in hex groups, the only form the v1 grammar names',
  );
  t.equal(line(tcp('tcp6', '::1.2.3.4', '::', 1, 2)), 'PROXY TCP6 ::102:304 :: 1 2\r\n', 'IPv4-compatible has no dotted tail either');
});

t.test('formatProxyHeaderV2: exact bytes', async (t) => {
  t.same(
    formatProxyHeaderV2(tcp('tcp4', '192.0.2.1', '198.51.100.7', 51234, 443)),
    hexBytes('0d0a0d0a000d0a515549540a 21 11 000c c0000201 c6336407 c822 01bb'),
  );
  t.same(
    formatProxyHeaderV2(tcp('tcp6', '2001:db8::1', '::ffff:192.0.2.1', 0, 65535)),
    hexBytes('0d0a0d0a000d0a515549540a 21 21 0024 20010db8000000000000000000000001 00000000000000000000ffffc0000201 0000 ffff'),
  );
  t.equal(formatProxyHeaderV2(tcp('tcp4', '1.2.3.4', '5.6.7.8', 1, 2)).length, 28);
  t.equal(formatProxyHeaderV2(tcp('tcp6', '::1', '::1', 1, 2)).length, 52);
});

t.test('formatters refuse what no valid header can carry', async (t) => {
  const bad: ReadonlyArray<readonly [string, ProxyAddress, RegExp]> = [
    ['IPv6 destination in tcp4', tcp('tcp4', '1.2.3.4', '::1', 1, 2), /destination address "::1" is not an IPv4 address \(family tcp4\)/],
    ['v4-mapped in tcp4', tcp('tcp4', '::ffff:1.2.3.4', '5.6.7.8', 1, 2), /source address "::ffff:1\.2\.3\.4" is not an IPv4 address/],
    ['IPv4 in tcp6', tcp('tcp6', '1.2.3.4', '::1', 1, 2), /source address "1\.2\.3\.4" is not an IPv6 address \(family tcp6\)/],
    ['a zone index', tcp('tcp6', 'fe80::1%eth0', '::1', 1, 2), /"fe80::1%eth0" is not an IPv6 address/],
    ['a host name', tcp('tcp4', 'localhost', '5.6.7.8', 1, 2), /"localhost"/],
    ['an empty address', tcp('tcp4', '', '5.6.7.8', 1, 2), /source address ""/],
    ['port 65536', tcp('tcp4', '1.2.3.4', '5.6.7.8', 65536, 2), /source port 65536 is not a port/],
    ['port -1', tcp('tcp4', '1.2.3.4', '5.6.7.8', 1, -1), /destination port -1/],
    ['port 1.5', tcp('tcp4', '1.2.3.4', '5.6.7.8', 1.5, 2), /source port 1\.5/],
    ['port NaN', tcp('tcp4', '1.2.3.4', '5.6.7.8', Number.NaN, 2), /source port NaN/],
    ['family tcp5', { ...tcp('tcp4', '1.2.3.4', '5.6.7.8', 1, 2), family: 'tcp5' as 'tcp4' }, /family tcp5 is not tcp4 or tcp6/],
  ];
  for (const [name, address, message] of bad) {
    t.throws(() => formatProxyHeaderV1(address), { name: 'RangeError', message }, `v1: ${name}`);
    t.throws(() => formatProxyHeaderV2(address), { name: 'RangeError', message }, `v2: ${name}`);
  }
});

t.test('proxyAddressFromSocket settles on one family', async (t) => {
  const cases: ReadonlyArray<readonly [string, readonly [string, string], ProxyAddress]> = [
    ['both IPv4', ['192.0.2.1', '127.0.0.1'], tcp('tcp4', '192.0.2.1', '127.0.0.1', 5, 443)],
    ['both v4-mapped (IPv4 client on a dual-stack socket)', ['::ffff:192.0.2.1', '::ffff:127.0.0.1'], tcp('tcp4', '192.0.2.1', '127.0.0.1', 5, 443)],
    ['v4-mapped in hex and upper case', ['::FFFF:C000:0201', '::ffff:7f00:1'], tcp('tcp4', '192.0.2.1', '127.0.0.1', 5, 443)],
    ['IPv4 and v4-mapped', ['192.0.2.1', '::ffff:127.0.0.1'], tcp('tcp4', '192.0.2.1', '127.0.0.1', 5, 443)],
    ['both IPv6, canonicalised', ['2001:DB8:0::1', '0:0:0:0:0:0:0:1'], tcp('tcp6', '2001:db8::1', '::1', 5, 443)],
    ['v4-mapped client, IPv6 local', ['::ffff:192.0.2.1', '2001:db8::1'], tcp('tcp6', '::ffff:192.0.2.1', '2001:db8::1', 5, 443)],
    ['IPv4 client, IPv6 local: the IPv4 end is mapped', ['192.0.2.1', '2001:db8::1'], tcp('tcp6', '::ffff:192.0.2.1', '2001:db8::1', 5, 443)],
    ['IPv6 client, IPv4 local: the IPv4 end is mapped', ['2001:db8::1', '127.0.0.1'], tcp('tcp6', '2001:db8::1', '::ffff:127.0.0.1', 5, 443)],
    ['IPv4-compatible (::a.b.c.d) is not v4-mapped', ['::1.2.3.4', '::ffff:1.2.3.4'], tcp('tcp6', '::102:304', '::ffff:1.2.3.4', 5, 443)],
    ['::ffff:0:a.b.c.d (SIIT) is not v4-mapped', ['::ffff:0:1.2.3.4', '1.2.3.4'], tcp('tcp6', '::ffff:0:102:304', '::ffff:1.2.3.4', 5, 443)],
    ['unspecified and loopback', ['::', '::1'], tcp('tcp6', '::', '::1', 5, 443)],
  ];
  for (const [name, [remote, local], expected] of cases) {
    const address = proxyAddressFromSocket(remote, 5, local, 443);
    t.same(address, expected, name);
    t.same(completeValue(parseProxyHeader(formatProxyHeaderV1(address))).value.address, expected, `${name}: v1 round trip`);
    t.same(completeValue(parseProxyHeader(formatProxyHeaderV2(address))).value.address, expected, `${name}: v2 round trip`);
  }
  const refused: ReadonlyArray<readonly [string, () => unknown, RegExp]> = [
    ['a zone index', () => proxyAddressFromSocket('fe80::1%lo', 5, '::1', 443), /remote address "fe80::1%lo" is not an IPv4 or IPv6 address/],
    ['a host name', () => proxyAddressFromSocket('192.0.2.1', 5, 'localhost', 443), /local address "localhost"/],
    ['an empty string', () => proxyAddressFromSocket('', 5, '::1', 443), /remote address ""/],
    ['port 70000', () => proxyAddressFromSocket('192.0.2.1', 70000, '127.0.0.1', 443), /remote port 70000 is not a port/],
    ['port -1', () => proxyAddressFromSocket('192.0.2.1', 5, '127.0.0.1', -1), /local port -1/],
  ];
  for (const [name, call, message] of refused) t.throws(call, { name: 'RangeError', message }, name);
  // Re-normalising a parsed header, as the daemon does before forwarding what a front proxy sent.
  const mapped = completeValue(parseProxyHeader(latin1('PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 58392 19003\r\n'))).value.address;
  assert.ok(mapped !== undefined);
  t.same(
    proxyAddressFromSocket(mapped.sourceAddress, mapped.sourcePort, mapped.destinationAddress, mapped.destinationPort),
    tcp('tcp4', '127.0.0.1', '127.0.0.1', 58392, 19003),
  );
});

const NO_IPV6 = { skip: 'no IPv6 on this machine' } as const;
const IPV6 = await hasIPv6Loopback();

t.test('proxyAddressFromSocket on what Node really reports for an IPv4 client of a dual-stack socket', IPV6 ? {} : NO_IPV6, async (t) => {
  const accepted = new Promise<net.Socket>((resolve, reject) => {
    const server = net.createServer((socket) => resolve(socket));
    t.teardown(() => server.close());
    server.listen({ host: '::', port: 0, ipv6Only: false }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const client = net.connect({ host: '127.0.0.1', port });
      // With net.ipv6.bindv6only=1 the IPv4 connection is refused: say so rather than wait for tap's timeout.
      client.on('error', (error) => reject(new Error(`an IPv4 client could not reach a '::' socket: ${error.message}`)));
      t.teardown(() => client.destroy());
    });
  });
  const socket = await accepted;
  t.teardown(() => socket.destroy());
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  t.equal(remoteAddress, '::ffff:127.0.0.1', 'Node reports the IPv4 client v4-mapped');
  assert.ok(remoteAddress !== undefined && remotePort !== undefined && localAddress !== undefined && localPort !== undefined);
  const address = proxyAddressFromSocket(remoteAddress, remotePort, localAddress, localPort);
  t.same(address, tcp('tcp4', '127.0.0.1', '127.0.0.1', remotePort, localPort));
  t.equal(
    Buffer.from(formatProxyHeaderV1(address)).toString('latin1'),
    `PROXY TCP4 127.0.0.1 127.0.0.1 ${remotePort} ${localPort}\r\n`,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

const ipv4Bytes = fc.uint8Array({ minLength: 4, maxLength: 4 });
/** IPv6 with runs of zero groups (so `::` appears), v4-mapped ones, and fully random ones. */
const ipv6Bytes = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((groups) => {
    const out = new Uint8Array(16);
    groups.forEach((g, i) => {
      out[2 * i] = g >> 8;
      out[2 * i + 1] = g & 0xff;
    });
    return out;
  }),
  ipv4Bytes.map((v4) => concat(new Uint8Array(10), Uint8Array.of(0xff, 0xff), v4)),
);
const port = fc.integer({ min: 0, max: 65535 });
const proxyAddress: fc.Arbitrary<ProxyAddress> = fc.oneof(
  fc.tuple(ipv4Bytes, ipv4Bytes, port, port).map(([s, d, sp, dp]) => tcp('tcp4', formatIpAddress(s), formatIpAddress(d), sp, dp)),
  fc.tuple(ipv6Bytes, ipv6Bytes, port, port).map(([s, d, sp, dp]) => tcp('tcp6', formatIpAddress(s), formatIpAddress(d), sp, dp)),
);
const trailing = fc.oneof(fc.constant(new Uint8Array(0)), fc.constant(CLIENT_HELLO), fc.uint8Array({ maxLength: 40 }));

const tlvList: fc.Arbitrary<ProxyTlv[]> = fc.array(
  fc.record({ type: fc.integer({ min: 0, max: 255 }).filter((x) => x !== 3), value: fc.uint8Array({ maxLength: 40 }) }, { noNullPrototype: true }),
  { maxLength: 6 },
);

/** A valid v2 header with random TLVs and, when `crc`, a CRC32C TLV sealed at position `crcAt` in the list. */
const v2WithTlvs = fc
  .record({
    address: fc.option(proxyAddress, { nil: undefined }),
    local: fc.boolean(),
    tlvs: tlvList,
    crc: fc.boolean(),
    crcAt: fc.nat({ max: 6 }),
  })
  .map(({ address, local, tlvs, crc, crcAt }) => {
    const block = address === undefined ? new Uint8Array(0) : formatProxyHeaderV2(address).subarray(16);
    const family = address === undefined ? 0x00 : address.family === 'tcp4' ? 0x11 : 0x21;
    const list = [...tlvs];
    const at = Math.min(crcAt, list.length);
    if (crc) list.splice(at, 0, { type: 3, value: new Uint8Array(4) });
    let bytes = v2(local ? 0x20 : 0x21, family, block, ...list.map((x) => tlv(x.type, x.value)));
    if (crc) {
      const field = 16 + block.length + list.slice(0, at).reduce((n, x) => n + 3 + x.value.length, 0) + 3;
      bytes = sealCrc32c(bytes, field);
      list[at] = { type: 3, value: bytes.slice(field, field + 4) };
    }
    const expected: ProxyHeader = { version: 2, command: local ? 'local' : 'proxy', address: local ? undefined : address, tlvs: list };
    return { bytes, expected };
  })
  .filter(({ bytes }) => bytes.length <= MAX_PROXY_HEADER_V2);

t.test('property: generated addresses round-trip through v1 and v2, with anything after them', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(proxyAddress, trailing, fc.nat(), (address, after, cut) => {
        for (const formatted of [formatProxyHeaderV1(address), formatProxyHeaderV2(address)]) {
          const bytes = concat(formatted, after);
          const { value, length } = completeValue(parseProxyHeader(bytes));
          assert.deepEqual(value.address, address);
          assert.equal(length, formatted.length);
          assert.equal(parseProxyHeader(formatted.subarray(0, cut % formatted.length)).status, 'incomplete');
        }
      }),
      { numRuns: 10_000 },
    ),
  );
});

t.test('property: any text address Node could report round-trips through proxyAddressFromSocket', async (t) => {
  const text = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.ipV4().map((v4) => `::ffff:${v4}`),
    fc.ipV6().map((v6) => v6.toUpperCase()),
  );
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(text, port, text, port, (remote, remotePort, local, localPort) => {
        const address = proxyAddressFromSocket(remote, remotePort, local, localPort);
        const bytes = (s: string): Uint8Array => parseIPv4(s) ?? parseIPv6(s) ?? new Uint8Array(0);
        const v4view = (b: Uint8Array): boolean => b.length === 4 || (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff);
        assert.equal(address.family, v4view(bytes(remote)) && v4view(bytes(local)) ? 'tcp4' : 'tcp6');
        for (const formatted of [formatProxyHeaderV1(address), formatProxyHeaderV2(address)]) {
          assert.deepEqual(completeValue(parseProxyHeader(formatted)).value.address, address);
        }
        // Idempotent: normalising a normalised address changes nothing.
        assert.deepEqual(
          proxyAddressFromSocket(address.sourceAddress, address.sourcePort, address.destinationAddress, address.destinationPort),
          address,
        );
      }),
      { numRuns: 10_000 },
    ),
  );
});

t.test('property: generated v2 headers with TLVs (and CRC32C) parse back exactly', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(v2WithTlvs, trailing, fc.nat(), ({ bytes, expected }, after, cut) => {
        const { value, length } = completeValue(parseProxyHeader(concat(bytes, after)));
        assert.equal(length, bytes.length);
        assert.deepEqual(value, expected);
        assert.equal(parseProxyHeader(bytes.subarray(0, cut % bytes.length)).status, 'incomplete');
      }),
      { numRuns: 10_000 },
    ),
  );
});

/** Fragments that steer random v1 lines through every branch of the parser. */
const v1Fragment = fc.oneof(
  fc.constantFrom('PROXY', 'TCP4', 'TCP6', 'UNKNOWN', ' ', ' ', ' ', '\r\n', '\r', '\n', '0', '65535', '65536', '01', '::', ':', '.', 'ffff', '%', '\t', '\x00'),
  fc.ipV4(),
  fc.ipV6(),
  fc.nat({ max: 99_999 }).map(String),
  fc.string({ maxLength: 4 }),
);
const v1Soup = fc
  .tuple(fc.constantFrom('PROXY TCP4 ', 'PROXY TCP6 ', 'PROXY UNKNOWN', 'PROXY ', 'PROXY', ''), fc.array(v1Fragment, { maxLength: 14 }))
  .map(([start, fragments]) => latin1(start + fragments.join('')));

/** Random v2 headers: fixed fields from the interesting values, a length near the real one, random TLV-ish bytes. */
const v2Soup = fc
  .record({
    versionCommand: fc.oneof(fc.constantFrom(0x20, 0x21), fc.integer({ min: 0, max: 255 })),
    family: fc.oneof(fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32), fc.integer({ min: 0, max: 255 })),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.tuple(fc.uint8Array({ minLength: 12, maxLength: 36 }), tlvList).map(([block, tlvs]) => concat(block, ...tlvs.map((x) => tlv(x.type, x.value)))),
    ),
    lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -4, max: 4 }), fc.integer({ min: 0, max: 0xffff })),
    after: fc.uint8Array({ maxLength: 20 }),
  })
  .map(({ versionCommand, family, body, lengthDelta, after }) => {
    const length = lengthDelta > 4 ? lengthDelta : Math.max(0, body.length + lengthDelta);
    return concat(SIGNATURE, Uint8Array.of(versionCommand, family), u16(length), body, after);
  });

/** Valid headers of every kind, with something after them. */
const validHeader = fc.oneof(
  fc.constantFrom(...ALL_KNOWN.map((k) => k.bytes)),
  proxyAddress.map(formatProxyHeaderV1),
  proxyAddress.map(formatProxyHeaderV2),
  v2WithTlvs.map(({ bytes }) => bytes),
);
type Mutation = { kind: 'set'; at: number; byte: number } | { kind: 'insert'; at: number; byte: number } | { kind: 'delete'; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.oneof(fc.constantFrom(0x20, 0x0d, 0x0a, 0x3a, 0x2e, 0x30), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);
function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = Array.from(bytes);
  for (const m of mutations) {
    const at = m.at % (out.length + 1);
    if (m.kind === 'set' && at < out.length) out[at] = m.byte;
    else if (m.kind === 'insert') out.splice(at, 0, m.byte);
    else if (m.kind === 'delete') out = out.filter((_, i) => i !== at);
  }
  return Uint8Array.from(out);
}

t.test('property: random bytes never throw, and every verdict is consistent with its prefixes', async (t) => {
  const anything = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 120 }).map((b) => concat(latin1('PROXY '), b)),
    fc.uint8Array({ maxLength: 120 }).map((b) => concat(SIGNATURE, b)),
    v1Soup,
    v2Soup,
  );
  t.doesNotThrow(() => fc.assert(fc.property(anything, fc.nat(), (bytes, cut) => assertConsistent(bytes, cut)), { numRuns: 30_000 }));
});

t.test('property: mutated valid headers never throw, and verdicts stay consistent', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(validHeader, trailing, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.nat(), (header, after, mutations, cut) => {
        assertConsistent(mutate(concat(header, after), mutations), cut);
      }),
      { numRuns: 30_000 },
    ),
  );
});

t.test('property: truncations of valid headers are incomplete, never invalid', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(validHeader, fc.nat(), (header, cut) => {
        assert.equal(parseProxyHeader(header.subarray(0, cut % header.length)).status, 'incomplete');
        assert.equal(completeValue(parseProxyHeader(header)).length, header.length);
      }),
      { numRuns: 20_000 },
    ),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Real peers: HAProxy and nginx send headers to a raw server; the client's own socket says what they must carry.

/** A TCP server that keeps every byte each connection sends. */
interface Recorder {
  readonly port: number;
  /** Bytes received so far, one entry per connection, in accept order. */
  received(): Uint8Array[];
}

async function startRecorder(t: Test): Promise<Recorder> {
  const connections: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const chunks: Buffer[] = [];
    connections.push(chunks);
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    received: () => connections.map((chunks) => new Uint8Array(Buffer.concat(chunks))),
  };
}

/** Connects, retrying while the peer is not listening yet; bounded by waitUntil's deadline. */
function connectWhenListening(t: Test, host: string, port: number, peer: ManagedProcess): Promise<net.Socket> {
  return waitUntil(`${peer.name} listening on ${host} port ${port}`, () => {
    const state = peer.exitState();
    if (state !== undefined) throw new GiveUp(`${peer.name} exited (${state}):\n${peer.output()}`);
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        t.teardown(() => socket.destroy());
        resolve(socket);
      });
      socket.once('error', reject);
    });
  });
}

/** Waits until the recorder holds a complete header that `matches`, followed by bytes for which `ready` holds. */
function headerArriving(
  recorder: Recorder,
  what: string,
  matches: (header: ProxyHeader) => boolean,
  ready: (after: Uint8Array) => boolean = () => true,
): Promise<{ header: ProxyHeader; after: Uint8Array }> {
  return waitUntil(what, () => {
    for (const bytes of recorder.received()) {
      const result = parseProxyHeader(bytes);
      if (result.status !== 'complete' || !matches(result.value)) continue;
      const after = bytes.subarray(result.length);
      if (ready(after)) return { header: result.value, after };
    }
    return undefined;
  });
}

/** A `ready` predicate for {@link headerArriving}: at least `n` bytes after the header. */
const atLeast = (n: number) => (after: Uint8Array): boolean => after.length >= n;

/** Every connection the peer made carried a header we accept: nothing a real sender emits is refused. */
function assertAllAccepted(t: Test, recorder: Recorder, peer: string): void {
  const received = recorder.received().filter((bytes) => bytes.length > 0);
  const refused = received.map(parseProxyHeader).filter((r) => r.status !== 'complete');
  t.same(refused, [], `all ${received.length} connection(s) from ${peer} start with a complete, valid header`);
}

const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

t.test('real peer: HAProxy send-proxy and send-proxy-v2', requirePeers(t, ['haproxy']), async (t) => {
  const ipv6 = IPV6;
  const dir = shortTempDir(t, 'ar-pp-haproxy-');
  const traffic = await startRecorder(t);
  const checksV1 = await startRecorder(t);
  const checksV2 = await startRecorder(t);
  const [v1Port, v2Port, mappedPort, ipv6Port] = [await freePort(), await freePort(), await freePort(), ipv6 ? await freePort(['::1']) : 0];
  const config = `global
  log stderr format raw local0 info

defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 10s
  timeout server 10s

frontend v1
  bind 127.0.0.1:${v1Port}
  default_backend v1

frontend v2
  bind 127.0.0.1:${v2Port}
  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
  default_backend v2
${
  ipv6
    ? `
# An IPv4 client on an IPv6 socket: HAProxy sends TCP6 with v4-mapped addresses in dotted form.
frontend mapped
  bind [::ffff:127.0.0.1]:${mappedPort} v4v6
  default_backend v1

frontend ipv6
  bind [::1]:${ipv6Port}
  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
  default_backend v2
`
    : ''
}
backend v1
  server traffic 127.0.0.1:${traffic.port} send-proxy

backend v2
  server traffic 127.0.0.1:${traffic.port} send-proxy-v2 proxy-v2-options crc32c,unique-id

# Health checks carry a header too: v1 with the check's own endpoints, v2 as LOCAL.
backend checks-v1
  server checked 127.0.0.1:${checksV1.port} send-proxy check inter 100ms

backend checks-v2
  server checked 127.0.0.1:${checksV2.port} send-proxy-v2 proxy-v2-options crc32c check inter 100ms
`;
  const configPath = path.join(dir, 'haproxy.cfg');
  await writeFile(configPath, config);
  const haproxy = spawnManaged('haproxy', which('haproxy') ?? 'haproxy', ['-db', '-f', configPath], { cwd: dir, env: cleanEnv() });
  t.teardown(() => haproxy.stop());

  await t.test('v1 before a real TLS ClientHello', async (t) => {
    const socket = await connectWhenListening(t, '127.0.0.1', v1Port, haproxy);
    const client = tls.connect({ socket, servername: 'through.haproxy.test', ALPNProtocols: ['acme-tls/1'] });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    const clientPort = socket.localPort;
    const { header, after } = await headerArriving(
      traffic,
      'v1 header and the whole ClientHello',
      (h) => h.address?.sourcePort === clientPort,
      (rest) => parseClientHello(rest).status === 'complete',
    );
    t.same(header, { version: 1, command: 'proxy', address: tcp('tcp4', '127.0.0.1', '127.0.0.1', clientPort ?? -1, v1Port) });
    const hello = parseClientHello(after);
    assert.ok(hello.status === 'complete');
    t.equal(hello.value.serverName, 'through.haproxy.test', 'the ClientHello right after the header is intact');
    t.same(hello.value.alpn, ['acme-tls/1']);
  });

  await t.test('v2 with CRC32C and UNIQUE_ID TLVs', async (t) => {
    const socket = await connectWhenListening(t, '127.0.0.1', v2Port, haproxy);
    const payload = latin1('after the v2 header');
    socket.write(payload);
    const { header, after } = await headerArriving(traffic, 'v2 header', (h) => h.version === 2 && h.address?.sourcePort === socket.localPort, atLeast(payload.length));
    t.same(header.address, tcp('tcp4', '127.0.0.1', '127.0.0.1', socket.localPort ?? -1, v2Port));
    t.equal(header.command, 'proxy');
    t.same(header.tlvs?.map((x) => x.type), [0x03, 0x05], 'CRC32C (verified) then UNIQUE_ID');
    t.match(Buffer.from(header.tlvs?.[1]?.value ?? []).toString('latin1'), /^7F000001:[0-9A-F]{4}_7F000001:/, 'the unique id names the client');
    t.same(after, payload);
  });

  await t.test('v4-mapped TCP6 from a v4v6 bind', ipv6 ? {} : NO_IPV6, async (t) => {
    const socket = await connectWhenListening(t, '127.0.0.1', mappedPort, haproxy);
    socket.write('x');
    const { header } = await headerArriving(traffic, 'TCP6 v4-mapped header', (h) => h.address?.family === 'tcp6' && h.address.sourcePort === socket.localPort, atLeast(1));
    const address = header.address;
    assert.ok(address !== undefined);
    t.same(address, tcp('tcp6', '::ffff:127.0.0.1', '::ffff:127.0.0.1', socket.localPort ?? -1, mappedPort));
    t.same(
      proxyAddressFromSocket(address.sourceAddress, address.sourcePort, address.destinationAddress, address.destinationPort),
      tcp('tcp4', '127.0.0.1', '127.0.0.1', socket.localPort ?? -1, mappedPort),
      'normalised to tcp4 before forwarding',
    );
  });

  await t.test('v2 TCP over IPv6', ipv6 ? {} : NO_IPV6, async (t) => {
    const socket = await connectWhenListening(t, '::1', ipv6Port, haproxy);
    socket.write('x');
    const { header } = await headerArriving(traffic, 'v2 IPv6 header', (h) => h.address?.family === 'tcp6' && h.address.sourcePort === socket.localPort, atLeast(1));
    t.same(header.address, tcp('tcp6', '::1', '::1', socket.localPort ?? -1, ipv6Port));
  });

  await t.test('health checks: v1 with the check\'s endpoints, v2 LOCAL with CRC32C', async (t) => {
    const v1Check = await headerArriving(checksV1, 'a v1 health check', () => true);
    t.equal(v1Check.header.address?.destinationPort, checksV1.port);
    t.equal(v1Check.header.address?.sourceAddress, '127.0.0.1');
    const v2Check = await headerArriving(checksV2, 'a v2 health check', () => true);
    t.equal(v2Check.header.command, 'local');
    t.equal(v2Check.header.address, undefined);
    t.same(v2Check.header.tlvs?.map((x) => x.type), [0x03]);
  });

  for (const [recorder, name] of [[traffic, 'traffic'], [checksV1, 'v1 checks'], [checksV2, 'v2 checks']] as const) {
    assertAllAccepted(t, recorder, `HAProxy (${name})`);
  }
});

/** Like requirePeers, for the stream module nginx loads at run time: a failure under CI, a skip elsewhere. */
function requireStreamModule(t: Test): { skip?: string } {
  const peers = requirePeers(t, ['nginx']);
  if (peers.skip !== undefined || existsSync(NGINX_STREAM_MODULE)) return peers;
  const reason = `missing ${NGINX_STREAM_MODULE} (Debian package libnginx-mod-stream)`;
  if (IN_CI) t.fail(`${reason} — CI=true never skips`);
  return { skip: reason };
}

t.test('real peer: nginx stream proxy_protocol on', requireStreamModule(t), async (t) => {
  const ipv6 = IPV6;
  const prefix = shortTempDir(t, 'ar-pp-nginx-');
  const traffic = await startRecorder(t);
  const [v4Port, v6Port] = [await freePort(), ipv6 ? await freePort(['::1']) : 0];
  const config = [
    `load_module ${NGINX_STREAM_MODULE};`,
    'daemon off;',
    // One process: nothing to fork, nothing left behind if the test is killed.
    'master_process off;',
    `pid ${path.join(prefix, 'nginx.pid')};`,
    'error_log stderr notice;',
    'events { worker_connections 64; }',
    'stream {',
    `  server { listen 127.0.0.1:${v4Port}; proxy_pass 127.0.0.1:${traffic.port}; proxy_protocol on; }`,
    ipv6 ? `  server { listen [::1]:${v6Port}; proxy_pass 127.0.0.1:${traffic.port}; proxy_protocol on; }` : '',
    '}',
    '',
  ].join('\n');
  const configPath = path.join(prefix, 'nginx.conf');
  await writeFile(configPath, config);
  // -e: the compiled-in error log under /var/log is not ours to write.
  const nginx = spawnManaged('nginx', which('nginx') ?? 'nginx', ['-e', 'stderr', '-p', prefix, '-c', configPath], { cwd: prefix, env: cleanEnv() });
  t.teardown(() => nginx.stop());

  const socket = await connectWhenListening(t, '127.0.0.1', v4Port, nginx);
  socket.write(CLIENT_HELLO);
  const v4 = await headerArriving(traffic, 'nginx v1 TCP4 header', (h) => h.address?.sourcePort === socket.localPort, atLeast(CLIENT_HELLO.length));
  t.same(v4.header, { version: 1, command: 'proxy', address: tcp('tcp4', '127.0.0.1', '127.0.0.1', socket.localPort ?? -1, v4Port) });
  t.same(v4.after, CLIENT_HELLO, 'the ClientHello after the header is untouched');
  t.equal(parseClientHello(v4.after).status, 'complete');

  if (ipv6) {
    const socket6 = await connectWhenListening(t, '::1', v6Port, nginx);
    socket6.write('x');
    const v6 = await headerArriving(traffic, 'nginx v1 TCP6 header', (h) => h.address?.family === 'tcp6' && h.address.sourcePort === socket6.localPort, atLeast(1));
    t.same(v6.header.address, tcp('tcp6', '::1', '::1', socket6.localPort ?? -1, v6Port));
  } else {
    t.comment('no IPv6 on this machine: TCP6 from nginx not tried');
  }
  assertAllAccepted(t, traffic, 'nginx');
});
