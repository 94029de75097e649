import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import fc from 'fast-check';
import t from 'tap';
import type { ParseResult } from '../../src/parse-result.js';
import {
  MAX_CLIENT_HELLO_LENGTH,
  clientHelloBytesWanted,
  parseClientHello,
  type ClientHello,
} from '../../src/tls/client-hello.js';
import { CLIENTS, FIXTURE_DIR, captureHello, type FixtureSidecar, type HelloExpectation } from '../fixtures/client-hello/capture.js';
import {
  alpnExtension,
  concat,
  extension,
  frame,
  handshake,
  helloBody,
  helloMessage,
  helloRecords,
  latin1,
  latin1String,
  lengthFields,
  record,
  serverNameExtension,
  supportedVersionsExtension,
  u16,
  unframe,
  vec16,
  vec8,
  type HelloSpec,
} from '../fixtures/client-hello/encoder.js';
import { requirePeers } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

interface Fixture {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly sidecar: FixtureSidecar;
}

const fixtures: Fixture[] = readdirSync(FIXTURE_DIR)
  .filter((file) => file.endsWith('.bin'))
  .sort()
  .map((file) => {
    const name = file.slice(0, -'.bin'.length);
    const sidecar = JSON.parse(readFileSync(path.join(FIXTURE_DIR, `${name}.json`), 'utf8')) as FixtureSidecar;
    return { name, bytes: new Uint8Array(readFileSync(path.join(FIXTURE_DIR, file))), sidecar };
  });

/** RFC 8701 GREASE values look like 0x?A?A. */
const isGrease = (value: number): boolean => (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);

function completeValue(result: ParseResult<ClientHello>): ClientHello {
  assert.equal(result.status, 'complete', result.status === 'invalid' ? result.reason : 'incomplete');
  return (result as { value: ClientHello }).value;
}

/** Asserts the facts a client was configured to send. */
function assertExpected(hello: ClientHello, expected: HelloExpectation): void {
  assert.equal(hello.serverName, expected.serverName);
  assert.deepEqual(hello.alpn, expected.alpn);
  assert.equal(hello.hasAlpnExtension, expected.hasAlpnExtension);
  assert.equal(hello.legacyVersion, 0x0303);
  const versions = hello.supportedVersions.filter((v) => !isGrease(v));
  if (expected.tls13) assert.equal(versions[0], 0x0304, 'TLS 1.3 offered first');
  else assert.equal(versions.includes(0x0304), false, 'TLS 1.3 not offered');
}

/** Ks in [0, limit) at which parsing the prefix does not give `incomplete`. */
function nonIncompletePrefixes(bytes: Uint8Array, limit = bytes.length, step = 1): number[] {
  const bad: number[] = [];
  for (let k = 0; k < limit; k += step) if (parseClientHello(bytes.subarray(0, k)).status !== 'incomplete') bad.push(k);
  return bad;
}

/** Any complete result must satisfy what the parser promises about its values. */
function assertSane(result: ParseResult<ClientHello>, input: Uint8Array): void {
  if (result.status === 'invalid') {
    assert.equal(typeof result.reason, 'string');
    assert.ok(result.reason.length > 0);
    return;
  }
  if (result.status === 'incomplete') return;
  assert.ok(result.length > 0 && result.length <= input.length);
  const { serverName, alpn, hasAlpnExtension, legacyVersion, supportedVersions } = result.value;
  if (serverName !== undefined) assert.match(serverName, /^[\x21-\x40\x5b-\x7e]{1,255}$/);
  for (const name of alpn) assert.match(name, /^[\x00-\xff]{1,255}$/);
  assert.ok(hasAlpnExtension || alpn.length === 0);
  assert.ok(legacyVersion >= 0x0301 && legacyVersion <= 0x03ff);
  for (const version of supportedVersions) assert.ok(Number.isInteger(version) && version >= 0 && version <= 0xffff);
}

/**
 * The parser's verdicts must be consistent across prefixes of one stream: `invalid` and `complete` are final, and
 * nothing short of a complete hello is `complete` or `invalid` when the whole turns out complete.
 */
function assertPrefixConsistent(bytes: Uint8Array, k: number): void {
  const whole = parseClientHello(bytes);
  const prefix = parseClientHello(bytes.subarray(0, k));
  if (prefix.status === 'invalid') assert.equal(whole.status, 'invalid', `prefix ${k} invalid (${prefix.reason}) but whole is not`);
  if (prefix.status === 'complete') assert.deepEqual(whole, prefix);
  if (whole.status === 'complete' && k < whole.length) assert.equal(prefix.status, 'incomplete', `prefix ${k} of a complete hello`);
}

t.test('fixtures: hellos captured from real clients parse to what the clients were told to send', async (t) => {
  const names = fixtures.map((f) => f.name);
  for (const prefix of ['openssl-', 'curl-', 'node-', 'wget-', 'pebble-']) {
    t.ok(names.some((n) => n.startsWith(prefix)), `a fixture from ${prefix.slice(0, -1)}`);
  }
  for (const { name, bytes, sidecar } of fixtures) {
    const result = parseClientHello(bytes);
    t.doesNotThrow(() => assertExpected(completeValue(result), sidecar.expected), name);
    t.equal(result.status === 'complete' && result.length, bytes.length, `${name}: length covers every record`);
  }
  const fragmented = fixtures.find((f) => f.name === 'openssl-tls12-fragmented');
  // Each record adds a 5-byte header to the handshake bytes.
  const records = fragmented === undefined ? 0 : (fragmented.bytes.length - unframe(fragmented.bytes).length) / 5;
  t.ok(records > 1, `a real hello spanning ${records} records`);
});

// openssl makes the oracle server's certificate.
t.test('fixtures: an independent TLS stack (Node/OpenSSL server) reads the same SNI and ALPN', requirePeers(t, ['openssl']), async (t) => {
  const dir = shortTempDir(t);
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=oracle', '-days', '1'], { stdio: 'ignore' });
  for (const { name, bytes } of fixtures) {
    const seen: { serverName?: string; alpn?: string[] } = {};
    const server = tls.createServer({
      key: readFileSync(key),
      cert: readFileSync(cert),
      SNICallback: (servername, callback) => {
        seen.serverName = servername;
        callback(null, undefined);
      },
      // Accepting lets the handshake go on to the SNI callback, which Node runs after ALPN selection.
      ALPNCallback: ({ protocols }) => {
        seen.alpn = protocols;
        return protocols[0];
      },
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // The server answers (ServerHello or an alert) only after its callbacks have seen the whole hello.
    await new Promise<void>((resolve) => {
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => socket.write(bytes));
      socket.once('data', () => socket.destroy());
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const ours = completeValue(parseClientHello(bytes));
    t.equal(ours.serverName, seen.serverName?.toLowerCase(), `${name}: SNI`);
    t.same(ours.alpn, seen.alpn ?? [], `${name}: ALPN`);
  }
});

t.test('live: hellos from openssl and Node on this machine', async (t) => {
  for (const client of CLIENTS.filter((c) => c.live)) {
    const options = client.binary === undefined ? {} : requirePeers(t, [client.binary]);
    await t.test(client.name, options, async (t) => {
      const bytes = await captureHello((port) => client.connect(port));
      t.doesNotThrow(() => assertExpected(completeValue(parseClientHello(bytes)), client.expected));
      t.same(nonIncompletePrefixes(bytes), [], 'every strict prefix is incomplete');
    });
  }
});

t.test('fixtures: every strict prefix is incomplete, the whole is complete', async (t) => {
  for (const { name, bytes } of fixtures) {
    t.same(nonIncompletePrefixes(bytes), [], name);
    t.equal(parseClientHello(bytes).status, 'complete', name);
  }
});

t.test('fixtures: re-framed into small records, same hello', async (t) => {
  for (const { name, bytes } of fixtures) {
    const expected = completeValue(parseClientHello(bytes));
    const message = unframe(bytes);
    for (const sizes of [[1], [7], [100], [3, 1, 250], [2 ** 14]]) {
      for (const version of [0x0301, 0x0303]) {
        const framed = frame(message, { sizes, version });
        const result = parseClientHello(framed);
        t.same(result, { status: 'complete', value: expected, length: framed.length }, `${name} in ${sizes.join('/')}-byte records`);
      }
      const framed = frame(message, { sizes });
      t.same(nonIncompletePrefixes(framed), [], `${name} in ${sizes.join('/')}-byte records: prefixes incomplete`);
    }
  }
});

t.test('length: trailing bytes inside the last record count, later records do not', async (t) => {
  const message = helloMessage();
  const trailing = Uint8Array.of(20, 3, 3, 0, 1, 1);
  const framed = frame(message, { sizes: [50], trailing });
  const withNext = concat(framed, record(20, [1], 0x0303), record(23, [1, 2, 3], 0x0303));
  t.same(parseClientHello(framed), { status: 'complete', value: completeValue(parseClientHello(helloRecords())), length: framed.length });
  t.match(parseClientHello(withNext), { status: 'complete', length: framed.length });
  t.same(nonIncompletePrefixes(framed), [], 'the last record must arrive whole, trailing bytes included');
  // Once the hello is whole, an invalid record after it changes nothing.
  t.equal(parseClientHello(concat(framed, latin1('GET / HTTP/1.1\r\n'))).status, 'complete');
});

t.test('clientHelloBytesWanted lets a byte-at-a-time reader parse rarely and never miss the hello', async (t) => {
  for (const { name, bytes } of fixtures) {
    const message = unframe(bytes);
    for (const sizes of [[1], [7], [2 ** 14]]) {
      const framed = frame(message, { sizes });
      let wanted = 0;
      let parses = 0;
      let doneAt = -1;
      for (let n = 1; n <= framed.length && doneAt < 0; n++) {
        if (n < wanted) continue;
        const buffer = framed.subarray(0, n);
        parses++;
        const result = parseClientHello(buffer);
        if (result.status === 'complete') doneAt = n;
        else if (result.status === 'invalid') break;
        else wanted = clientHelloBytesWanted(buffer);
      }
      t.equal(doneAt, framed.length, `${name} in ${sizes[0]}-byte records completes exactly at its end`);
      t.ok(parses <= 80, `${name} in ${sizes[0]}-byte records: ${parses} parses for ${framed.length} bytes`);
    }
  }
  t.equal(clientHelloBytesWanted(new Uint8Array(0)), 9, 'a record header and a handshake header');
  t.equal(clientHelloBytesWanted(Uint8Array.of(22, 3, 1, 0, 200, 1)), 205, 'the end of the record being received');
  t.equal(clientHelloBytesWanted(Uint8Array.of(22, 3, 1, 0, 4, 1, 0, 1, 0)), 9 + 5 + 256, 'past the record and the missing body');
  t.ok(clientHelloBytesWanted(latin1('GET / HTTP/1.1\r\n')) <= 16, 'invalid records: parse now');
  t.ok(clientHelloBytesWanted(Uint8Array.of(22, 3, 1, 0x40, 0x01)) <= 5, 'oversized record: parse now');
  t.ok(clientHelloBytesWanted(Uint8Array.of(22, 3, 1, 0, 10, 2, 0, 0, 6)) <= 9, 'wrong handshake type: parse now');
});

t.test('eager verdicts: invalid as soon as the bytes so far can never form a hello', async (t) => {
  t.same(parseClientHello(new Uint8Array(0)), { status: 'incomplete' });
  t.match(parseClientHello(latin1('G')), { status: 'invalid', reason: /not TLS.*"G"/ });
  t.match(parseClientHello(Uint8Array.of(22, 4)), { status: 'invalid', reason: /record version 0x04\.\./ });
  t.match(parseClientHello(Uint8Array.of(22, 3, 1, 0, 200, 2)), { status: 'invalid', reason: /type 2 \(server_hello\)/ });
  // Duplicate ALPN in the first record, while the declared hello is much longer and mostly still on its way.
  const message = helloMessage({ extensions: [alpnExtension('h2'), alpnExtension('h2'), extension(21, new Uint8Array(3000))] });
  const framed = frame(message, { sizes: [200] });
  t.match(parseClientHello(framed.subarray(0, 150)), { status: 'invalid', reason: /duplicate extension 16/ });
  // Declared lengths that overrun their container are final even before the bytes arrive.
  const overrun = helloRecords({ extensions: [concat(u16(16), u16(4000))] });
  t.match(parseClientHello(overrun.subarray(0, 120)), { status: 'invalid', reason: /extension 16 .*\(4000 bytes\) overruns extensions/ });
});

interface InvalidCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly reason: RegExp;
}

const hostName = (text: string) => [serverNameExtension(text), alpnExtension('acme-tls/1')];

const invalidCases: InvalidCase[] = [
  { name: 'plain HTTP', bytes: latin1('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'), reason: /^not TLS: .*"GET \/ HTTP\/1\.1".*HTTP/ },
  { name: 'binary garbage', bytes: Uint8Array.of(0x00, 0x01, 0x02), reason: /^not TLS: first byte 0x00/ },
  {
    name: 'SSLv2-compatible hello',
    bytes: Uint8Array.of(0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10),
    reason: /SSLv2-compatible ClientHello/,
  },
  { name: 'alert record first', bytes: record(21, [2, 40], 0x0303), reason: /record type 21 \(alert\) where a handshake record/ },
  { name: 'application data first', bytes: record(23, [1, 2, 3], 0x0303), reason: /record type 23 \(application_data\)/ },
  { name: 'record version 0x0200', bytes: Uint8Array.of(22, 2, 0, 0, 5), reason: /record version 0x0200 is not TLS/ },
  { name: 'record version 0x0305', bytes: Uint8Array.of(22, 3, 5, 0, 5), reason: /record version 0x0305 is not TLS/ },
  { name: 'oversized record', bytes: Uint8Array.of(22, 3, 1, 0x40, 0x01), reason: /record length 16385 exceeds 2\^14/ },
  { name: 'zero-length record', bytes: Uint8Array.of(22, 3, 1, 0, 0), reason: /zero-length handshake record/ },
  {
    name: 'change_cipher_spec interleaved between fragments',
    bytes: (() => {
      const message = helloMessage();
      return concat(record(22, message.subarray(0, 40)), record(20, [1], 0x0303), record(22, message.subarray(40)));
    })(),
    reason: /record type 20 \(change_cipher_spec\) interleaved/,
  },
  { name: 'handshake type 2', bytes: helloRecords({ type: 2 }), reason: /handshake message type 2 \(server_hello\) where a ClientHello \(1\)/ },
  { name: 'handshake type 99', bytes: helloRecords({ type: 99 }), reason: /handshake message type 99 where/ },
  {
    name: 'hello longer than the cap',
    bytes: frame(handshake(1, new Uint8Array(MAX_CLIENT_HELLO_LENGTH + 1))),
    reason: new RegExp(`length ${MAX_CLIENT_HELLO_LENGTH + 1} exceeds the ${MAX_CLIENT_HELLO_LENGTH}-byte cap`),
  },
  { name: 'body too short for its fields', bytes: frame(handshake(1, Uint8Array.of(3, 3, 0))), reason: /random overruns the ClientHello/ },
  { name: 'legacy_version SSL 3.0', bytes: helloRecords({ legacyVersion: 0x0300 }), reason: /legacy_version 0x0300/ },
  { name: 'legacy_version not TLS', bytes: helloRecords({ legacyVersion: 0x0403 }), reason: /legacy_version 0x0403/ },
  { name: 'session id of 33 bytes', bytes: helloRecords({ sessionId: new Uint8Array(33) }), reason: /legacy_session_id is 33 bytes/ },
  { name: 'odd cipher_suites', bytes: helloRecords({ cipherSuiteBytes: Uint8Array.of(0x13, 0x01, 0x13) }), reason: /cipher_suites is 3 bytes/ },
  { name: 'empty cipher_suites', bytes: helloRecords({ cipherSuites: [] }), reason: /cipher_suites is 0 bytes/ },
  { name: 'empty compression methods', bytes: helloRecords({ compression: [] }), reason: /legacy_compression_methods is empty/ },
  {
    name: 'bytes after the extensions block',
    bytes: helloRecords({ trailer: Uint8Array.of(0, 0) }),
    reason: /2 unexpected bytes follow the extensions block/,
  },
  {
    name: 'extensions block overrunning the hello',
    bytes: frame(handshake(1, concat(helloBody({ extensions: null }), u16(10), [0, 0]))),
    reason: /extensions \(10 bytes\) overruns the ClientHello/,
  },
  {
    name: 'extension data overrunning the block',
    bytes: helloRecords({ extensions: [concat(u16(16), u16(9), [0, 3, 2, 0x68, 0x32])] }),
    reason: /extension 16 \(application_layer_protocol_negotiation\) \(9 bytes\) overruns extensions/,
  },
  { name: 'duplicate extension', bytes: helloRecords({ extensions: [alpnExtension('h2'), serverNameExtension('a.example'), alpnExtension('h2')] }), reason: /duplicate extension 16 \(application_layer_protocol_negotiation\)/ },
  { name: 'duplicate unknown extension', bytes: helloRecords({ extensions: [extension(0xff01, [0]), extension(0xff01, [0])] }), reason: /duplicate extension 65281$/ },
  { name: 'empty ALPN name', bytes: helloRecords({ extensions: [alpnExtension('h2', '', 'http/1.1')] }), reason: /empty ALPN protocol name/ },
  { name: 'empty ALPN list', bytes: helloRecords({ extensions: [extension(16, vec16([]))] }), reason: /ALPN protocol_name_list is empty/ },
  { name: 'ALPN extension without a list', bytes: helloRecords({ extensions: [extension(16, [])] }), reason: /protocol_name_list length overruns extension 16/ },
  {
    name: 'ALPN list overrunning the extension',
    bytes: helloRecords({ extensions: [extension(16, concat(u16(10), vec8(latin1('abc'))))] }),
    reason: /protocol_name_list \(10 bytes\) overruns extension 16/,
  },
  {
    name: 'ALPN name overrunning the list (truncated)',
    bytes: helloRecords({ extensions: [extension(16, vec16(concat([5], latin1('abcd'))))] }),
    reason: /ALPN protocol name \(5 bytes\) overruns protocol_name_list/,
  },
  {
    name: 'bytes after the ALPN list',
    bytes: helloRecords({ extensions: [extension(16, concat(vec16(vec8(latin1('h2'))), [0]))] }),
    reason: /unexpected bytes after protocol_name_list/,
  },
  { name: 'non-ASCII SNI', bytes: helloRecords({ extensions: hostName('ex\u00e4mple.com') }), reason: /host_name contains byte 0xe4/ },
  { name: 'SNI with a space', bytes: helloRecords({ extensions: hostName('a b.example') }), reason: /host_name contains byte 0x20/ },
  { name: 'SNI with NUL', bytes: helloRecords({ extensions: hostName('a\u0000.example') }), reason: /host_name contains byte 0x00/ },
  { name: 'empty host_name', bytes: helloRecords({ extensions: hostName('') }), reason: /empty host_name/ },
  { name: 'host_name of 256 bytes', bytes: helloRecords({ extensions: hostName('a'.repeat(256)) }), reason: /host_name is 256 bytes/ },
  {
    name: 'two host_names',
    bytes: helloRecords({ extensions: [serverNameExtension('a.example', 'b.example')] }),
    reason: /more than one host_name/,
  },
  { name: 'empty server_name_list', bytes: helloRecords({ extensions: [extension(0, vec16([]))] }), reason: /server_name_list is empty/ },
  {
    name: 'bytes after server_name_list',
    bytes: helloRecords({ extensions: [extension(0, concat(vec16(concat([0], vec16(latin1('a.example')))), [7]))] }),
    reason: /unexpected bytes after server_name_list/,
  },
  {
    name: 'host_name overrunning the list',
    bytes: helloRecords({ extensions: [extension(0, vec16(concat([0], u16(50), latin1('a.example'))))] }),
    reason: /server name of type 0 \(50 bytes\) overruns server_name_list/,
  },
  { name: 'odd supported_versions', bytes: helloRecords({ extensions: [extension(43, vec8([3, 4, 3]))] }), reason: /supported_versions list is 3 bytes/ },
  { name: 'empty supported_versions', bytes: helloRecords({ extensions: [extension(43, vec8([]))] }), reason: /supported_versions list is 0 bytes/ },
  {
    name: 'bytes after supported_versions',
    bytes: helloRecords({ extensions: [extension(43, concat(vec8([3, 4]), [0]))] }),
    reason: /unexpected bytes after the supported_versions list/,
  },
];

t.test('invalid hellos are refused with a precise reason', async (t) => {
  for (const { name, bytes, reason } of invalidCases) {
    const result = parseClientHello(bytes);
    t.equal(result.status, 'invalid', name);
    if (result.status === 'invalid') t.match(result.reason, reason, `${name}: ${result.reason}`);
    const completePrefixes = nonIncompletePrefixes(bytes).filter((k) => parseClientHello(bytes.subarray(0, k)).status === 'complete');
    t.same(completePrefixes, [], `${name}: no prefix is complete`);
  }
});

t.test('edge cases that are valid', async (t) => {
  const parse = (spec: HelloSpec, options = {}) => completeValue(parseClientHello(helloRecords(spec, options)));

  t.same(parse({ extensions: null, legacyVersion: 0x0301, sessionId: new Uint8Array(0) }), {
    legacyVersion: 0x0301, serverName: undefined, alpn: [], hasAlpnExtension: false, supportedVersions: [],
  }, 'a TLS 1.0-style hello without an extensions block');
  t.same(parse({ extensions: [] }).alpn, [], 'an empty extensions block');
  t.same(parse({}, { version: 0x0300 }).serverName, 'example.com', 'record version 0x0300');
  t.same(parse({}, { version: 0x0304 }).serverName, 'example.com', 'record version 0x0304');
  t.equal(parse({ legacyVersion: 0x0304 }).legacyVersion, 0x0304, 'a higher legacy_version is left to version negotiation');

  t.equal(parse({ extensions: hostName('ACME.Example.COM') }).serverName, 'acme.example.com', 'SNI lower-cased');
  t.equal(parse({ extensions: hostName('example.com.') }).serverName, 'example.com.', 'trailing dot kept as sent');
  t.equal(parse({ extensions: hostName('xn--bcher-kva.example') }).serverName, 'xn--bcher-kva.example', 'A-labels');
  t.equal(parse({ extensions: hostName('192.0.2.1') }).serverName, '192.0.2.1', 'an IP literal is the router\'s business');
  t.equal(parse({ extensions: hostName('a'.repeat(255)) }).serverName, 'a'.repeat(255), 'a 255-byte host_name');
  t.equal(parse({ extensions: [serverNameExtension([7, latin1('other')], 'host.example')] }).serverName, 'host.example', 'unknown name type skipped');
  t.equal(parse({ extensions: [serverNameExtension('host.example', [7, Uint8Array.of(0, 255)])] }).serverName, 'host.example', 'unknown name type after the host_name');
  t.equal(parse({ extensions: [serverNameExtension([7, latin1('other')])] }).serverName, undefined, 'only an unknown name type');

  const grease = Uint8Array.of(0x0a, 0x0a);
  const high = Uint8Array.of(0xff, 0x80, 0x00);
  t.same(parse({ extensions: [alpnExtension(grease, 'acme-tls/1', high)] }).alpn, ['\n\n', 'acme-tls/1', '\xff\x80\x00'], 'ALPN names are bytes, kept one char per byte');
  t.same(parse({ extensions: [alpnExtension('h2', 'h2')] }).alpn, ['h2', 'h2'], 'a repeated ALPN name is not forbidden');
  t.same(parse({ extensions: [alpnExtension('p'.repeat(255))] }).alpn, ['p'.repeat(255)], 'a 255-byte ALPN name');
  t.equal(parse({ extensions: [alpnExtension('h2')] }).hasAlpnExtension, true);
  t.same(parse({ extensions: [supportedVersionsExtension(0x7a7a, 0x0304, 0x0303)] }).supportedVersions, [0x7a7a, 0x0304, 0x0303], 'GREASE kept');
  t.equal(parse({ extensions: [extension(0xfafa, []), extension(41, [1, 2, 3]), ...hostName('x.example')] }).serverName, 'x.example', 'unknown and empty extensions skipped');

  // The largest hello accepted, necessarily over two records.
  const unpadded = helloBody({ extensions: [serverNameExtension('big.example')] });
  // The padding extension (RFC 7685) adds its 4-byte header and its data.
  const padding = extension(21, new Uint8Array(MAX_CLIENT_HELLO_LENGTH - unpadded.length - 4));
  const padded = helloBody({ extensions: [serverNameExtension('big.example'), padding] });
  t.equal(padded.length, MAX_CLIENT_HELLO_LENGTH);
  const largest = frame(handshake(1, padded));
  t.same(parseClientHello(largest), {
    status: 'complete',
    value: { legacyVersion: 0x0303, serverName: 'big.example', alpn: [], hasAlpnExtension: false, supportedVersions: [] },
    length: largest.length,
  });
});

/**
 * The CPU time this process spends in `run`, in milliseconds, with its result: the parser's own work, which other
 * processes on a loaded machine do not inflate as they do wall-clock time.
 */
function cpuMs<T>(run: () => T): { value: T; ms: number } {
  const before = process.cpuUsage();
  const value = run();
  const { user, system } = process.cpuUsage(before);
  return { value, ms: (user + system) / 1000 };
}

t.test('speed: linear in the input, bounded by the hello cap', async (t) => {
  const body = helloBody({ extensions: [serverNameExtension('slow.example'), extension(21, new Uint8Array(MAX_CLIENT_HELLO_LENGTH - 200))] });
  const tiny = frame(handshake(1, body), { sizes: [1] });
  // A parser quadratic in the records would spend seconds on these 16,000 1-byte records; a linear one, milliseconds.
  const small = cpuMs(() => parseClientHello(tiny));
  t.equal(small.value.status, 'complete', `a ${body.length}-byte hello in 1-byte records (${tiny.length} bytes)`);
  t.ok(small.ms < 500, `parsed in ${small.ms.toFixed(1)} ms of CPU time`);
  const huge = concat(tiny, new Uint8Array(4 * 1024 * 1024));
  const tail = cpuMs(() => parseClientHello(huge));
  t.equal(tail.value.status, 'complete', 'bytes after the hello are never looked at');
  t.ok(tail.ms < 500, `4 MiB tail: ${tail.ms.toFixed(1)} ms of CPU time`);
});

// ---- property tests ----

/** CPU time one parse may take (see cpuMs): far above a linear parse of any input drawn here, far below a stall. */
const PROPERTY_TIME_LIMIT_MS = 250;

/** Runs the parser, checking it neither throws nor stalls, and that whatever it returns is well-formed. */
function checkedParse(bytes: Uint8Array): ParseResult<ClientHello> {
  const { value: result, ms } = cpuMs(() => parseClientHello(bytes));
  assert.ok(ms < PROPERTY_TIME_LIMIT_MS, `${ms} ms of CPU time for ${bytes.length} bytes`);
  assert.ok(['complete', 'incomplete', 'invalid'].includes(result.status));
  assertSane(result, bytes);
  return result;
}

type Tally = Record<ParseResult<ClientHello>['status'], number>;

const newTally = (): Tally => ({ complete: 0, incomplete: 0, invalid: 0 });

/** Random bytes, checked, with prefix consistency at a random cut; counts the verdicts. */
function randomBytesProperty(bytes: fc.Arbitrary<Uint8Array>, tally: Tally): fc.IPropertyWithHooks<[Uint8Array, number]> {
  return fc.property(bytes, fc.nat(), (input, k) => {
    tally[checkedParse(input).status]++;
    assertPrefixConsistent(input, k % (input.length + 1));
  });
}

t.test('property: random bytes never throw and always get one of the three verdicts', async (t) => {
  const noise = fc.uint8Array({ maxLength: 700, size: 'max' });
  const anywhere = newTally();
  t.doesNotThrow(() => fc.assert(randomBytesProperty(noise, anywhere), { numRuns: 20_000 }));
  t.ok(anywhere.invalid > 0 && anywhere.incomplete > 0, `verdicts ${JSON.stringify(anywhere)}`);

  // Behind a plausible record, handshake header and legacy_version, noise reaches the body parser.
  const body = fc.tuple(fc.integer({ min: 0, max: 4 }), noise).map(([minor, tail]) => {
    const message = concat([1, 0], u16(tail.length + 2), [3, 3], tail);
    return concat([22, 3, minor], u16(Math.max(1, Math.min(message.length, 2 ** 14))), message);
  });
  const inBody = newTally();
  t.doesNotThrow(() => fc.assert(randomBytesProperty(body, inBody), { numRuns: 20_000 }));
  t.ok(inBody.invalid > 0, `verdicts ${JSON.stringify(inBody)}`);

  // A well-formed hello up to its extensions block, then noise as the block: the extension parsers take the load.
  const block = fc
    .tuple(noise, fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 3 }))
    .map(([tail, sizes]) => frame(handshake(1, concat(helloBody({ extensions: null }), vec16(tail))), { sizes }));
  const inExtensions = newTally();
  t.doesNotThrow(() => fc.assert(randomBytesProperty(block, inExtensions), { numRuns: 20_000 }));
  t.ok(inExtensions.invalid > 0 && inExtensions.complete > 0, `verdicts ${JSON.stringify(inExtensions)}`);
});

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'set'; at: number; value: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = input;
  for (const m of mutations) {
    const at = m.at % (bytes.length + 1);
    if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
    else if (m.kind === 'insert') bytes = concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
    else if (m.kind === 'delete') bytes = concat(bytes.subarray(0, at), bytes.subarray(at + m.count));
    else if (at < bytes.length) {
      bytes = Uint8Array.from(bytes);
      bytes[at] = m.kind === 'flip' ? (bytes[at] ?? 0) ^ (1 << m.bit) : m.value;
    }
  }
  return bytes;
}

const fixtureArb = fc.constantFrom(...fixtures);

t.test('property: mutated real hellos never throw, and verdicts stay consistent across prefixes', async (t) => {
  const tally = newTally();
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fixtureArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.nat(), (fixture, mutations, k) => {
        const bytes = mutate(fixture.bytes, mutations);
        tally[checkedParse(bytes).status]++;
        assertPrefixConsistent(bytes, k % (bytes.length + 1));
      }),
      { numRuns: 20_000 },
    ),
  );
  t.ok(tally.complete > 0 && tally.incomplete > 0 && tally.invalid > 0, `verdicts ${JSON.stringify(tally)}`);
});

t.test('property: real hellos with length fields changed, in random framing', async (t) => {
  const tally = newTally();
  const fieldChange = fc.record({
    field: fc.nat(),
    change: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -0xffff, max: 0xffff })),
  });
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(
        fixtureArb,
        fc.array(fieldChange, { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (fixture, changes, sizes, k) => {
          const message = Uint8Array.from(unframe(fixture.bytes));
          const fields = lengthFields(message);
          for (const { field, change } of changes) {
            const { at, width } = fields[field % fields.length] ?? { at: 0, width: 1 };
            // Only the low 16 bits of the 24-bit handshake length change, so it stays near the cap.
            const start = at + width - Math.min(width, 2);
            if (start === at + width - 1) {
              message[start] = ((message[start] ?? 0) + change) & 0xff;
            } else {
              const value = ((message[start] ?? 0) * 256 + (message[start + 1] ?? 0) + change) & 0xffff;
              message[start] = value >> 8;
              message[start + 1] = value & 0xff;
            }
          }
          const bytes = frame(message, { sizes });
          tally[checkedParse(bytes).status]++;
          assertPrefixConsistent(bytes, k % (bytes.length + 1));
        },
      ),
      { numRuns: 20_000 },
    ),
  );
  t.ok(tally.complete > 0 && tally.incomplete > 0 && tally.invalid > 0, `verdicts ${JSON.stringify(tally)}`);
});

/** A generated hello and what parsing it must give. */
interface Generated {
  readonly bytes: Uint8Array;
  readonly value: ClientHello;
  /** Bytes of the records that carry it (`bytes` may go on after them). */
  readonly length: number;
}

const label = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,18}[A-Za-z0-9])?$/);
const visibleAscii = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 255 });
const hostNameArb = fc.oneof(
  { weight: 3, arbitrary: fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join('.')) },
  { weight: 1, arbitrary: visibleAscii },
);
const alpnNameArb = fc.oneof(
  fc.constantFrom('acme-tls/1', 'h2', 'http/1.1', '\n\n'),
  fc.uint8Array({ minLength: 1, maxLength: 255, size: 'medium' }).map(latin1String),
);
const reservedTypes = new Set([0, 16, 43]);

const generatedArb: fc.Arbitrary<Generated> = fc
  .record({
    serverName: fc.option(hostNameArb, { nil: undefined }),
    otherNames: fc.array(fc.tuple(fc.integer({ min: 1, max: 255 }), fc.uint8Array({ minLength: 1, maxLength: 20 })), { maxLength: 2 }),
    hostFirst: fc.boolean(),
    alpn: fc.option(fc.array(alpnNameArb, { minLength: 1, maxLength: 6 }), { nil: undefined }),
    versions: fc.option(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 8 }), { nil: undefined }),
    legacyVersion: fc.integer({ min: 0x0301, max: 0x03ff }),
    sessionId: fc.uint8Array({ maxLength: 32 }),
    cipherSuites: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 40 }),
    compression: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 }),
    others: fc.uniqueArray(
      fc.record({ type: fc.integer({ min: 0, max: 0xffff }).filter((type) => !reservedTypes.has(type)), data: fc.uint8Array({ maxLength: 300, size: 'medium' }) }),
      { selector: (e) => e.type, maxLength: 8 },
    ),
    // An X25519MLKEM768 key share is 1216 bytes: hellos of real size.
    bigKeyShare: fc.boolean(),
    omitEmptyBlock: fc.boolean(),
    recordVersion: fc.integer({ min: 0x0300, max: 0x0304 }),
    sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 2 ** 14 - 5 })), { minLength: 1, maxLength: 5 }),
    trailing: fc.uint8Array({ maxLength: 5 }),
    after: fc.uint8Array({ maxLength: 10 }),
    seed: fc.nat(),
  })
  .map((g) => {
    const extensions: Uint8Array[] = g.others.filter((e) => !(g.bigKeyShare && e.type === 51)).map((e) => extension(e.type, e.data));
    if (g.bigKeyShare) extensions.push(extension(51, vec16(concat(u16(0x11ec), vec16(new Uint8Array(1216).fill(9))))));
    if (g.serverName !== undefined || g.otherNames.length > 0) {
      const others = g.otherNames.map(([type, name]) => [type, name] as const);
      const entries = g.serverName === undefined ? others : g.hostFirst ? [g.serverName, ...others] : [...others, g.serverName];
      extensions.push(serverNameExtension(...entries));
    }
    if (g.alpn !== undefined) extensions.push(alpnExtension(...g.alpn));
    if (g.versions !== undefined) extensions.push(supportedVersionsExtension(...g.versions));
    // Extension order is free (RFC 8446 §4.2): rotate by the seed.
    const rotated = extensions.map((_, i) => extensions[(i + g.seed) % extensions.length] as Uint8Array);
    const message = helloMessage({
      legacyVersion: g.legacyVersion,
      sessionId: g.sessionId,
      cipherSuites: g.cipherSuites,
      compression: g.compression,
      extensions: rotated.length === 0 && g.omitEmptyBlock ? null : rotated,
    });
    const framed = frame(message, { sizes: g.sizes, version: g.recordVersion, trailing: g.trailing });
    const value: ClientHello = {
      legacyVersion: g.legacyVersion,
      serverName: g.serverName?.toLowerCase(),
      alpn: g.alpn ?? [],
      hasAlpnExtension: g.alpn !== undefined,
      supportedVersions: g.versions ?? [],
    };
    return { bytes: concat(framed, g.after), value, length: framed.length };
  });

t.test('property: generated valid hellos with random SNI, ALPN and framing parse back exactly', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(generatedArb, fc.nat(), ({ bytes, value, length }, k) => {
        const result = checkedParse(bytes);
        assert.deepEqual(result, { status: 'complete', value, length });
        assert.equal(parseClientHello(bytes.subarray(0, k % length)).status, 'incomplete');
      }),
      { numRuns: 10_000 },
    ),
  );
});

t.test('property: generated hellos, mutated, keep consistent verdicts', async (t) => {
  const tally = newTally();
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(generatedArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.nat(), ({ bytes }, mutations, k) => {
        const mutated = mutate(bytes, mutations);
        tally[checkedParse(mutated).status]++;
        assertPrefixConsistent(mutated, k % (mutated.length + 1));
      }),
      { numRuns: 10_000 },
    ),
  );
  t.ok(tally.complete > 0 && tally.incomplete > 0 && tally.invalid > 0, `verdicts ${JSON.stringify(tally)}`);
});
