import 'reflect-metadata';
import t from 'tap';
import fc from 'fast-check';
import * as x509 from '@peculiar/x509';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import * as nodeCrypto from 'node:crypto';
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { AlpnResponderError } from '../../src/errors.js';
import { formatIdentifier, parseIdentifier, type Identifier } from '../../src/challenge/identifier.js';
import { createChallengeCertificate, DEFAULT_CERTIFICATE_VALIDITY_SECONDS } from '../../src/challenge/certificate.js';
import { checkChallengeCertificate } from '../../src/diagnostics/verify.js';
import { toHex } from '../../src/bytes.js';
import { DerReader, TAG, content, raw, subjectAltNameValue } from '../../src/challenge/der.js';
import { SAN_OID, cnName, extension } from './cert-builder.js';

const run = promisify(execFile);
const DIGEST = new Uint8Array(createHash('sha256').update('evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI').digest());
const DIGEST_HEX = Buffer.from(DIGEST).toString('hex');
const NOW = new Date('2030-06-15T12:34:56.789Z');

const dir = await mkdtemp(join(tmpdir(), 'alpn-responder-cert-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function openssl(...args: string[]): Promise<string> {
  const { stdout } = await run('openssl', args, { encoding: 'utf8' });
  return stdout;
}

/** Extension headers in `openssl x509 -text` output: the lines indented by 12 under "X509v3 extensions:". */
function extensionBlock(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'X509v3 extensions:');
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^ {0,8}\S/.test(line)) break;
    out.push(line);
  }
  return out;
}

const cases: { input: string; san: string; cn: string }[] = [
  { input: 'Example.ORG', san: 'DNS:example.org', cn: 'example.org' },
  { input: '192.0.2.1', san: 'IP Address:192.0.2.1', cn: '192.0.2.1' },
  { input: '2001:db8::1', san: 'IP Address:2001:DB8:0:0:0:0:0:1', cn: '2001:db8::1' },
];

for (const { input, san, cn } of cases) {
  t.test(`challenge certificate for ${input}`, async (t) => {
    const id = parseIdentifier(input);
    const cert = await createChallengeCertificate(id, DIGEST, { now: NOW });
    const base = join(dir, input.replaceAll(':', '_'));
    await writeFile(`${base}.der`, cert.der);
    await writeFile(`${base}.pem`, cert.certPem);

    // The CA's own checks.
    t.same(await checkChallengeCertificate(cert.der, id, DIGEST), { ok: true }, 'passes the CA checks');

    // OpenSSL, independently.
    const text = await openssl('x509', '-inform', 'DER', '-in', `${base}.der`, '-noout', '-text');
    t.match(text, /Version: 3 \(0x2\)/);
    t.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    t.match(text, /NIST CURVE: P-256/);
    t.match(text, new RegExp(`Issuer: CN ?= ?${cn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
    t.match(text, new RegExp(`Subject: CN ?= ?${cn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
    t.match(text, /Not Before: Jun 15 11:34:56 2030 GMT/);
    t.match(text, /Not After : Jun 22 12:34:56 2030 GMT/);
    const block = extensionBlock(text);
    const headers = block.filter((l) => /^ {12}\S/.test(l)).map((l) => l.trim());
    t.same(headers, ['X509v3 Subject Alternative Name:', '1.3.6.1.5.5.7.1.31: critical'], 'exactly two extensions, acmeIdentifier critical, SAN not');
    const sanValue = block[block.findIndex((l) => l.includes('Subject Alternative Name')) + 1]?.trim();
    t.equal(sanValue, san, 'SAN holds exactly the identifier');
    const verify = await openssl('verify', '-ignore_critical', '-attime', String(Math.floor(NOW.getTime() / 1000)), '-CAfile', `${base}.pem`, `${base}.pem`);
    t.match(verify, /: OK$/m, 'openssl verify -CAfile self self (the unknown critical extension ignored)');
    const strict = await openssl('verify', '-attime', String(Math.floor(NOW.getTime() / 1000)), '-CAfile', `${base}.pem`, `${base}.pem`).catch((e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`);
    t.match(strict, /unhandled critical extension/, 'without -ignore_critical OpenSSL sees acmeIdentifier as critical');
    const parsed = await openssl('asn1parse', '-inform', 'DER', '-in', `${base}.der`);
    t.match(parsed, /OCTET STRING +\[HEX DUMP\]:0420([0-9A-F]{64})/);
    t.equal(/OCTET STRING +\[HEX DUMP\]:0420([0-9A-F]{64})/.exec(parsed)?.[1]?.toLowerCase(), DIGEST_HEX, 'acmeIdentifier extnValue is 04 20 ‖ digest');

    // Node's X.509 parser, independently.
    const node = new X509Certificate(cert.der);
    t.equal(node.subject, `CN=${cn}`);
    t.equal(node.issuer, node.subject);
    t.ok(node.checkIssued(node), 'issued by itself');
    t.ok(node.verify(node.publicKey), 'signature verifies with its own key');
    t.equal(node.subjectAltName, san);
    t.equal(node.ca, false);
    t.equal(node.serialNumber.length, 32, '16-byte serial');
    t.ok(parseInt(node.serialNumber[0]!, 16) < 8, 'serial top bit clear');
    t.not(node.serialNumber.slice(0, 2), '00', 'no leading zero byte');
    t.equal(new Date(node.validTo).getTime(), cert.notAfter.getTime());
    t.equal(cert.notAfter.toISOString(), '2030-06-22T12:34:56.000Z');
    t.equal(new Date(node.validFrom).toISOString(), '2030-06-15T11:34:56.000Z');

    // The raw bytes: issuer and subject byte-identical, exactly two extensions.
    const lib = new x509.X509Certificate(cert.der);
    t.equal(lib.extensions.length, 2);
    t.equal(lib.extensions[0]?.type, '2.5.29.17');
    t.equal(lib.extensions[0]?.critical, false);
    t.equal(lib.extensions[1]?.type, '1.3.6.1.5.5.7.1.31');
    t.equal(lib.extensions[1]?.critical, true);
    t.equal(Buffer.from(lib.extensions[1]!.value).toString('hex'), `0420${DIGEST_HEX}`);
    t.equal(Buffer.from(lib.subjectName.toArrayBuffer()).toString('hex'), Buffer.from(lib.issuerName.toArrayBuffer()).toString('hex'));
    const tbs = new DerReader(cert.der);
    const certSeq = DerReader.over(cert.der, tbs.read(TAG.SEQUENCE, 'certificate'));
    const tbsSeq = DerReader.over(cert.der, certSeq.read(TAG.SEQUENCE, 'tbs'));
    tbsSeq.read(0xa0, 'version');
    const serial = content(cert.der, tbsSeq.read(TAG.INTEGER, 'serial'));
    t.equal(serial.length, 16, 'serial INTEGER is exactly 16 bytes');
    tbsSeq.read(TAG.SEQUENCE, 'alg');
    const issuer = tbsSeq.read(TAG.SEQUENCE, 'issuer');
    tbsSeq.read(TAG.SEQUENCE, 'validity');
    const subject = tbsSeq.read(TAG.SEQUENCE, 'subject');
    t.same(cert.der.subarray(issuer.start, issuer.end), cert.der.subarray(subject.start, subject.end), 'issuer bytes == subject bytes');

    // The key: PKCS#8, P-256, matches the certificate, usable by TLS.
    t.match(cert.keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    t.match(cert.certPem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    const key = createPrivateKey(cert.keyPem);
    t.equal(key.asymmetricKeyType, 'ec');
    t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    t.ok(node.checkPrivateKey(key), 'key matches certificate');
    t.doesNotThrow(() => tls.createSecureContext({ key: cert.keyPem, cert: cert.certPem }));
    await writeFile(`${base}.key`, cert.keyPem, { mode: 0o600 });
    t.match(await openssl('pkey', '-in', `${base}.key`, '-noout', '-text'), /ASN1 OID: prime256v1/, 'openssl reads the PKCS#8 key');
  });
}

t.test('served over a real TLS handshake with ALPN acme-tls/1', async (t) => {
  const id = parseIdentifier('192.0.2.7');
  const cert = await createChallengeCertificate(id, DIGEST);
  const server = tls.createServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: ['acme-tls/1'] }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const { der, protocol } = await new Promise<{ der: Uint8Array; protocol: string | false | null }>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: id.sni, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      const peer = socket.getPeerCertificate();
      resolve({ der: new Uint8Array(peer.raw), protocol: socket.alpnProtocol });
      socket.destroy();
    });
    socket.on('error', reject);
  });
  t.equal(protocol, 'acme-tls/1');
  t.same(der, cert.der);
  t.same(await checkChallengeCertificate(der, id, DIGEST), { ok: true });
});

t.test('each certificate has its own key and serial', async (t) => {
  const id = parseIdentifier('example.org');
  const a = await createChallengeCertificate(id, DIGEST);
  const b = await createChallengeCertificate(id, DIGEST);
  t.not(a.keyPem, b.keyPem);
  t.not(new X509Certificate(a.der).serialNumber, new X509Certificate(b.der).serialNumber);
  t.not(new X509Certificate(a.der).fingerprint256, new X509Certificate(b.der).fingerprint256);
});

t.test('validity', async (t) => {
  const id = parseIdentifier('example.org');
  const before = Date.now();
  const dflt = await createChallengeCertificate(id, DIGEST);
  const node = new X509Certificate(dflt.der);
  const from = new Date(node.validFrom).getTime();
  t.ok(from <= before - 3600_000 + 1000 && from >= before - 3600_000 - 2000, 'notBefore is an hour ago');
  t.ok(Math.abs(dflt.notAfter.getTime() - (before + DEFAULT_CERTIFICATE_VALIDITY_SECONDS * 1000)) < 3000, 'default: a week');
  t.equal(DEFAULT_CERTIFICATE_VALIDITY_SECONDS, 7 * 24 * 3600);
  const short = await createChallengeCertificate(id, DIGEST, { now: NOW, validForSeconds: 60 });
  t.equal(short.notAfter.toISOString(), '2030-06-15T12:35:56.000Z');
  t.equal(new Date(new X509Certificate(short.der).validTo).toISOString(), '2030-06-15T12:35:56.000Z');
  const late = await createChallengeCertificate(id, DIGEST, { now: new Date('2049-12-31T23:00:00Z'), validForSeconds: 7200 });
  t.equal(new Date(new X509Certificate(late.der).validTo).toISOString(), '2050-01-01T01:00:00.000Z', 'GeneralizedTime from 2050');
  t.same(await checkChallengeCertificate(late.der, id, DIGEST), { ok: true });
});

t.test('a name longer than a CN may be', async (t) => {
  const label = 'a'.repeat(63);
  const id: Identifier = parseIdentifier(`${label}.${label}.example`);
  const cert = await createChallengeCertificate(id, DIGEST);
  const node = new X509Certificate(cert.der);
  t.equal(node.subject, 'CN=ACME TLS-ALPN-01 challenge');
  t.equal(node.subjectAltName, `DNS:${label}.${label}.example`);
  t.same(await checkChallengeCertificate(cert.der, id, DIGEST), { ok: true });
  const exactly64 = parseIdentifier(`${'b'.repeat(51)}.example.org`);
  t.equal(new X509Certificate((await createChallengeCertificate(exactly64, DIGEST)).der).subject, `CN=${'b'.repeat(51)}.example.org`);
});

t.test('bad arguments', async (t) => {
  const id = parseIdentifier('example.org');
  const code = async (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof AlpnResponderError ? e.code : String(e)));
  t.equal(await code(createChallengeCertificate(id, DIGEST.subarray(1))), 'ERR_CERTIFICATE', '31-byte digest');
  t.equal(await code(createChallengeCertificate(id, new Uint8Array(33))), 'ERR_CERTIFICATE', '33-byte digest');
  for (const validForSeconds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.equal(await code(createChallengeCertificate(id, DIGEST, { validForSeconds })), 'ERR_CERTIFICATE', `validForSeconds ${validForSeconds}`);
  }
  t.equal(await code(createChallengeCertificate(id, DIGEST, { now: new Date(Number.NaN) })), 'ERR_CERTIFICATE', 'invalid now');
  const broken = { kind: 'ip', address: 'x', bytes: new Uint8Array(5), sni: 'x' } as Identifier;
  t.equal(await code(createChallengeCertificate(broken, DIGEST)), 'ERR_CERTIFICATE', '5-byte IP');
  t.equal(await code(createChallengeCertificate(id, DIGEST, { now: new Date('9999-12-31T23:59:59Z') })), 'ERR_CERTIFICATE', 'notAfter past year 9999');
  t.equal(await code(createChallengeCertificate(id, DIGEST, { now: new Date('1950-01-01T00:30:00Z') })), 'ERR_CERTIFICATE', 'notBefore before 1950');
  t.equal(await code(createChallengeCertificate(id, DIGEST, { now: new Date('9999-12-31T00:00:00Z'), validForSeconds: 3600 })), 'resolved', 'up to 9999');
});

t.test('speed', async (t) => {
  const id = parseIdentifier('example.org');
  const n = 50;
  const start = performance.now();
  for (let i = 0; i < n; i++) await createChallengeCertificate(id, DIGEST);
  const each = (performance.now() - start) / n;
  t.comment(`${each.toFixed(2)} ms per certificate`);
  t.ok(each < 50, `a few milliseconds per certificate (${each.toFixed(2)} ms)`);
});

// ---------------------------------------------------------------------------------------------------------------
// The DER is encoded by hand: every certificate is cross-checked by independent parsers and by the bytes themselves.

/** ecdsa-with-SHA256 with no parameters (RFC 5758 §3.2): SEQUENCE { OID 1.2.840.10045.4.3.2 }. */
const ECDSA_SHA256_AI = '300a06082a8648ce3d040302';

interface Layout {
  readonly version: string;
  readonly serial: Uint8Array;
  readonly innerAlgorithm: string;
  readonly outerAlgorithm: string;
  readonly issuer: string;
  readonly subject: string;
  readonly times: readonly { tag: number; text: string }[];
  /** Each extension's encoding, whole. */
  readonly extensions: readonly string[];
}

/** Walks the certificate with the strict reader, insisting on exactly the RFC 5280 §4.1 field order and no trailing data. */
function layout(der: Uint8Array): Layout {
  const outer = new DerReader(der);
  const cert = DerReader.over(der, outer.read(TAG.SEQUENCE, 'certificate'));
  outer.finish('certificate');
  const tbs = DerReader.over(der, cert.read(TAG.SEQUENCE, 'tbs'));
  const hex = (tlv: { start: number; end: number; contentStart: number; tag: number }) => toHex(raw(der, tlv));
  const version = hex(tbs.read(0xa0, 'version'));
  const serial = content(der, tbs.read(TAG.INTEGER, 'serial'));
  const innerAlgorithm = hex(tbs.read(TAG.SEQUENCE, 'signature'));
  const issuer = hex(tbs.read(TAG.SEQUENCE, 'issuer'));
  const validity = DerReader.over(der, tbs.read(TAG.SEQUENCE, 'validity'));
  const times = [validity.readAny(), validity.readAny()].map((tlv) => ({ tag: tlv.tag, text: Buffer.from(content(der, tlv)).toString('latin1') }));
  validity.finish('validity');
  const subject = hex(tbs.read(TAG.SEQUENCE, 'subject'));
  tbs.read(TAG.SEQUENCE, 'spki');
  const wrapper = DerReader.over(der, tbs.read(0xa3, 'extensions'));
  const list = DerReader.over(der, wrapper.read(TAG.SEQUENCE, 'extensions'));
  wrapper.finish('extensions');
  tbs.finish('tbs');
  const extensions: string[] = [];
  while (!list.empty) extensions.push(hex(list.read(TAG.SEQUENCE, 'extension')));
  const outerAlgorithm = hex(cert.read(TAG.SEQUENCE, 'algorithm'));
  cert.read(TAG.BIT_STRING, 'signature');
  cert.finish('certificate');
  return { version, serial, innerAlgorithm, outerAlgorithm, issuer, subject, times, extensions };
}

/** RFC 5280 §4.1.2.5 text of `date`: UTCTime for 1950–2049, GeneralizedTime otherwise. */
function expectedTime(date: Date): { tag: number; text: string } {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? { tag: TAG.UTC_TIME, text: digits.slice(2) } : { tag: TAG.GENERALIZED_TIME, text: digits };
}

/**
 * What every challenge certificate must satisfy, as seen by @peculiar/x509, node:crypto (OpenSSL), the project's
 * own CA checks and the raw bytes. Returns the problems found (empty when all is well), so property runs can use it.
 */
// A second WebCrypto implementation for @peculiar/x509's signature checks (its CommonJS build: the ES module one
// cannot load under the TypeScript loader the tests run with).
const { Crypto } = createRequire(import.meta.url)('@peculiar/webcrypto') as typeof import('@peculiar/webcrypto');
const peculiarCrypto = new Crypto();

async function crossCheck(der: Uint8Array, id: Identifier, digest: Uint8Array, notBefore: Date, notAfter: Date): Promise<string[]> {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => void (ok || problems.push(what));

  // The project's CA checks (Go's parser + Boulder's checks).
  const check = await checkChallengeCertificate(der, id, digest);
  expect(check.ok, `CA checks: ${JSON.stringify(check)}`);

  // @peculiar/x509.
  const lib = new x509.X509Certificate(der);
  expect(await lib.verify({ signatureOnly: true }, peculiarCrypto), '@peculiar/x509 on @peculiar/webcrypto: signature verifies with its own key');
  expect(await lib.verify({ publicKey: lib.publicKey, signatureOnly: true }, peculiarCrypto), '@peculiar/x509 on @peculiar/webcrypto: verifies against its public key');
  expect(toHex(new Uint8Array(lib.subjectName.toArrayBuffer())) === toHex(new Uint8Array(lib.issuerName.toArrayBuffer())), '@peculiar/x509: issuer == subject bytes');
  const signatureAlgorithm = lib.signatureAlgorithm as unknown as { name: string; hash: { name: string } };
  expect(signatureAlgorithm.name === 'ECDSA' && signatureAlgorithm.hash.name === 'SHA-256', '@peculiar/x509: ecdsa-with-SHA256');
  expect((lib.publicKey.algorithm as unknown as { namedCurve: string }).namedCurve === 'P-256', '@peculiar/x509: P-256 key');
  expect(lib.extensions.length === 2, '@peculiar/x509: two extensions');
  const [san, acme] = lib.extensions;
  expect(san?.type === '2.5.29.17' && san.critical === false, '@peculiar/x509: SAN first, not critical');
  expect(san !== undefined && toHex(new Uint8Array(san.value)) === toHex(subjectAltNameValue(id)), '@peculiar/x509: SAN value');
  expect(acme?.type === '1.3.6.1.5.5.7.1.31' && acme.critical === true, '@peculiar/x509: acmeIdentifier second, critical');
  expect(acme !== undefined && toHex(new Uint8Array(acme.value)) === `0420${toHex(digest)}`, '@peculiar/x509: acmeIdentifier value');
  expect(lib.notBefore.getTime() === notBefore.getTime(), `@peculiar/x509: notBefore ${lib.notBefore.toISOString()}`);
  expect(lib.notAfter.getTime() === notAfter.getTime(), `@peculiar/x509: notAfter ${lib.notAfter.toISOString()}`);

  // node:crypto (OpenSSL).
  const node = new X509Certificate(der);
  expect(node.checkIssued(node), 'node: issued by itself');
  expect(node.verify(node.publicKey), 'node: signature verifies with its own key');
  expect(node.subjectAltName === (id.kind === 'dns' ? `DNS:${id.name}` : `IP Address:${nodeIp(id.bytes)}`), `node: SAN ${node.subjectAltName}`);
  expect(node.ca === false, 'node: not a CA');

  // The bytes.
  const l = layout(der);
  expect(l.version === 'a003020102', 'version v3');
  expect(l.serial.length === 16 && (l.serial[0] as number) < 0x80 && l.serial[0] !== 0, '16-byte positive minimal serial');
  expect(l.innerAlgorithm === ECDSA_SHA256_AI && l.outerAlgorithm === ECDSA_SHA256_AI, 'ecdsa-with-SHA256 without parameters, inside and out');
  expect(l.issuer === l.subject, 'issuer bytes == subject bytes');
  const human = formatIdentifier(id);
  const cn = human.length <= 64 ? human : 'ACME TLS-ALPN-01 challenge';
  expect(l.subject === toHex(cnName(cn)), 'exactly one CN, UTF8String');
  expect(JSON.stringify(l.times) === JSON.stringify([expectedTime(notBefore), expectedTime(notAfter)]), `validity ${JSON.stringify(l.times)}`);
  // The test helper's independent encoder: with `false` it leaves the BOOLEAN out, as DER wants for DEFAULT FALSE.
  expect(l.extensions.length === 2 && l.extensions[0] === toHex(extension(SAN_OID, false, subjectAltNameValue(id))), 'SAN extension without a BOOLEAN');
  expect(l.extensions[1] === `303106082b0601050507011f0101ff04220420${toHex(digest)}`, 'acmeIdentifier extension: OID, TRUE, OCTET STRING { OCTET STRING digest }');
  return problems;
}

/** node:crypto's rendering of an iPAddress SAN: dotted quad, or eight upper-case groups without compression. */
function nodeIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16).toUpperCase());
  return groups.join(':');
}

const span = (now: Date, validFor = DEFAULT_CERTIFICATE_VALIDITY_SECONDS) => {
  const seconds = Math.floor(now.getTime() / 1000);
  return [new Date((seconds - 3600) * 1000), new Date((seconds + validFor) * 1000)] as const;
};

t.test('cross-checked by independent parsers: DNS, IPv4, IPv6, long names', async (t) => {
  const label = 'c'.repeat(63);
  for (const input of ['example.org', 'xn--bcher-kva.example', '192.0.2.1', '0.0.0.0', '2001:db8::1', '::ffff:198.51.100.7', '::', `${label}.${label}.example`, `${'d'.repeat(52)}.example.org`]) {
    const id = parseIdentifier(input);
    const cert = await createChallengeCertificate(id, DIGEST, { now: NOW });
    t.same(await crossCheck(cert.der, id, DIGEST, ...span(NOW)), [], input);
  }
});

t.test('validity on both sides of 2050: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', async (t) => {
  const id = parseIdentifier('example.org');
  const cases: { now: string; validFor: number; tags: [number, number]; texts: [string, string] }[] = [
    { now: '2030-06-15T12:34:56.789Z', validFor: 60, tags: [0x17, 0x17], texts: ['300615113456Z', '300615123556Z'] },
    { now: '2049-12-31T23:30:00Z', validFor: 3600, tags: [0x17, 0x18], texts: ['491231223000Z', '20500101003000Z'] },
    { now: '2050-01-01T00:59:59Z', validFor: 1, tags: [0x17, 0x18], texts: ['491231235959Z', '20500101010000Z'] },
    { now: '2050-01-01T01:00:00Z', validFor: 1, tags: [0x18, 0x18], texts: ['20500101000000Z', '20500101010001Z'] },
    { now: '1950-01-01T01:00:00Z', validFor: 1, tags: [0x17, 0x17], texts: ['500101000000Z', '500101010001Z'] },
    { now: '1999-12-31T23:59:59Z', validFor: 1, tags: [0x17, 0x17], texts: ['991231225959Z', '000101000000Z'] },
    { now: '9999-12-31T22:59:59Z', validFor: 3600, tags: [0x18, 0x18], texts: ['99991231215959Z', '99991231235959Z'] },
  ];
  for (const c of cases) {
    const now = new Date(c.now);
    const cert = await createChallengeCertificate(id, DIGEST, { now, validForSeconds: c.validFor });
    const { times } = layout(cert.der);
    t.same(times.map((x) => x.tag), c.tags, `${c.now}: tags`);
    t.same(times.map((x) => x.text), c.texts, `${c.now}: texts`);
    t.same(await crossCheck(cert.der, id, DIGEST, ...span(now, c.validFor)), [], `${c.now}: cross-checked`);
  }
});

t.test('long lengths: a 253-character name takes the two-octet length form throughout', async (t) => {
  const label = 'e'.repeat(63);
  const id = parseIdentifier(`${label}.${label}.${label}.${'f'.repeat(61)}`);
  t.equal(id.kind === 'dns' && id.name.length, 253);
  const cert = await createChallengeCertificate(id, DIGEST, { now: NOW });
  t.equal(cert.der[1], 0x82, 'Certificate SEQUENCE: long form, two length octets');
  t.equal((cert.der[2]! << 8) | cert.der[3]!, cert.der.length - 4, 'and the length is right');
  t.same(await crossCheck(cert.der, id, DIGEST, ...span(NOW)), []);
});

t.test('served over TLS for every identifier kind', async (t) => {
  for (const input of ['example.org', '198.51.100.9', '2001:db8::7']) {
    const id = parseIdentifier(input);
    const cert = await createChallengeCertificate(id, DIGEST);
    const server = tls.createServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: ['acme-tls/1'], minVersion: 'TLSv1.2' }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const served = await new Promise<{ der: Uint8Array; protocol: string | false | null }>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: id.sni, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false, maxVersion: 'TLSv1.2' }, () => {
        resolve({ der: new Uint8Array(socket.getPeerCertificate().raw), protocol: socket.alpnProtocol });
        socket.destroy();
      });
      socket.on('error', reject);
    });
    await new Promise((resolve) => server.close(resolve));
    t.equal(served.protocol, 'acme-tls/1', `${input}: ALPN`);
    t.same(served.der, cert.der, `${input}: the certificate built is the one served (TLS 1.2)`);
    t.same(await checkChallengeCertificate(served.der, id, DIGEST), { ok: true });
  }
});

t.test('PEM: 64-character base64 lines, decoding to the DER', async (t) => {
  for (const input of ['a.example', `${'g'.repeat(63)}.${'h'.repeat(63)}.example`]) {
    const cert = await createChallengeCertificate(parseIdentifier(input), DIGEST);
    const lines = cert.certPem.trimEnd().split('\n');
    t.equal(lines[0], '-----BEGIN CERTIFICATE-----');
    t.equal(lines.at(-1), '-----END CERTIFICATE-----');
    const body = lines.slice(1, -1);
    t.ok(body.slice(0, -1).every((l) => l.length === 64) && body.at(-1)!.length <= 64 && body.at(-1)!.length > 0, 'RFC 7468 line lengths');
    t.same(new Uint8Array(Buffer.from(body.join(''), 'base64')), cert.der);
  }
});

t.test('property: every certificate parses and verifies, whatever the identifier, digest and time', async (t) => {
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/);
  const dns = fc
    .array(label, { minLength: 1, maxLength: 5 })
    .map((labels) => `${labels.join('.')}.example`)
    .filter((name) => name.length <= 253 && !/^[0-9.]+$/.test(name));
  const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
  const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':'));
  // Weighted towards the UTCTime years and the 2050 switch, which a uniform draw over 8,000 years would rarely hit.
  const between = (min: string, max: string) => fc.date({ min: new Date(min), max: new Date(max), noInvalidDate: true });
  const now = fc.oneof(
    between('1950-01-01T01:00:00Z', '2049-12-31T23:59:59Z'),
    between('2049-12-01T00:00:00Z', '2050-01-01T01:00:00Z'),
    between('1950-01-01T01:00:00Z', '9999-12-01T00:00:00Z'),
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(dns, ipv4, ipv6),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      now,
      fc.integer({ min: 1, max: 30 * 24 * 3600 }),
      async (input, digest, date, validFor) => {
        const id = parseIdentifier(input);
        const cert = await createChallengeCertificate(id, digest, { now: date, validForSeconds: validFor });
        const [notBefore, notAfter] = span(date, validFor);
        runs++;
        const problems = await crossCheck(cert.der, id, digest, notBefore, notAfter);
        if (problems.length > 0) throw new Error(`${input} at ${date.toISOString()}: ${problems.join('; ')}`);
        return cert.notAfter.getTime() === notAfter.getTime();
      },
    ),
    { numRuns: 300 },
  );
  t.equal(runs, 300, '300 random certificates cross-checked');
});

t.test('a failing key generation is ERR_CERTIFICATE with the cause', async (t) => {
  const boom = new Error('no entropy today');
  const { createChallengeCertificate: create } = await t.mockImport<typeof import('../../src/challenge/certificate.js')>('../../src/challenge/certificate.js', {
    'node:crypto': { ...nodeCrypto, generateKeyPair: (_type: string, _options: unknown, callback: (error: Error) => void) => callback(boom) },
  });
  const error = await create(parseIdentifier('example.org'), DIGEST).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof AlpnResponderError);
  t.equal((error as AlpnResponderError).code, 'ERR_CERTIFICATE');
  t.match((error as AlpnResponderError).message, /building the challenge certificate for example\.org failed/);
  t.equal((error as Error).cause, boom);
});
