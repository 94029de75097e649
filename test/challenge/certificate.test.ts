import 'reflect-metadata';
import t from 'tap';
import * as x509 from '@peculiar/x509';
import { execFile } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { AlpnResponderError } from '../../src/errors.js';
import { parseIdentifier, type Identifier } from '../../src/challenge/identifier.js';
import { createChallengeCertificate, DEFAULT_CERTIFICATE_VALIDITY_SECONDS } from '../../src/challenge/certificate.js';
import { checkChallengeCertificate } from '../../src/challenge/verify.js';
import { DerReader, TAG, content } from '../../src/challenge/der.js';

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
