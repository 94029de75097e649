import 'reflect-metadata';
import t from 'tap';
import fc from 'fast-check';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto } from 'node:crypto';
import { AlpnResponderError } from '../../src/errors.js';
import { DerReader, TAG, content } from '../../src/challenge/der.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { CA_PROBLEMS, caProblemDetail, checkChallengeCertificate, goQuote, type CertificateCheck } from '../../src/diagnostics/verify.js';
import {
  ACME_OID,
  ALG,
  SAN_OID,
  acmeValue,
  certificate,
  cnName,
  dnsSan,
  ed25519,
  extension,
  ipSan,
  octets,
  oid,
  p256,
  rsa,
  secp256k1,
  seq,
  set,
  tlv,
  utf8,
} from '../challenge/cert-builder.js';

const DIGEST = new Uint8Array(createHash('sha256').update('token.thumbprint').digest());
const OTHER_DIGEST = new Uint8Array(createHash('sha256').update('token.other').digest());
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const DNS = parseIdentifier('example.org');
const V4 = parseIdentifier('192.0.2.1');
const V6 = parseIdentifier('2001:db8::1');

/** Node's own WebCrypto as the generator's provider: independent of the one the code under test uses. */
const nodeCrypto = webcrypto;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

async function generated(options: {
  subject?: string;
  issuer?: string;
  foreignSigner?: boolean;
  extensions?: x509.Extension[];
}): Promise<Uint8Array> {
  const keys = (await nodeCrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const signer = options.foreignSigner
    ? ((await nodeCrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair)
    : keys;
  const subject = options.subject ?? 'CN=example.org';
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '0102030405',
      subject,
      issuer: options.issuer ?? subject,
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2049-01-01T00:00:00Z'),
      publicKey: keys.publicKey,
      signingKey: signer.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: options.extensions ?? [],
    },
    nodeCrypto,
  );
  return new Uint8Array(cert.rawData);
}

const libSan = (...entries: { type: 'dns' | 'ip' | 'email'; value: string }[]) => new x509.SubjectAlternativeNameExtension(entries);
const libAcme = (value: Uint8Array, critical = true) => new x509.Extension(ACME_OID, critical, value);

const certificateProblem = (problem: string): CertificateCheck => ({ ok: false, stage: 'certificate', problem });

/** Pattern for t.match: refused by Go's TLS client, so the CA only says "Error getting validation data". */
const tlsFailure = (detail: RegExp) => ({ ok: false, stage: 'tls', problem: 'Error getting validation data', detail });

t.test('accepts well-formed challenge certificates built by a library', async (t) => {
  const dns = await generated({ extensions: [libSan({ type: 'dns', value: 'example.org' }), libAcme(acmeValue(DIGEST))] });
  t.same(await checkChallengeCertificate(dns, DNS, DIGEST), { ok: true });
  t.same(await checkChallengeCertificate(dns, DNS), { ok: true }, 'without an expected digest');
  t.same(await checkChallengeCertificate(dns, parseIdentifier('EXAMPLE.org.'), DIGEST), { ok: true });
  const v4 = await generated({ subject: 'CN=192.0.2.1', extensions: [libSan({ type: 'ip', value: '192.0.2.1' }), libAcme(acmeValue(DIGEST))] });
  t.same(await checkChallengeCertificate(v4, V4, DIGEST), { ok: true });
  t.same(await checkChallengeCertificate(v4, parseIdentifier('1.2.0.192.in-addr.arpa'), DIGEST), { ok: true });
  const v6 = await generated({ subject: 'CN=v6', extensions: [libAcme(acmeValue(DIGEST)), libSan({ type: 'ip', value: '2001:db8::1' })] });
  t.same(await checkChallengeCertificate(v6, V6, DIGEST), { ok: true }, 'extension order does not matter');
  const extra = await generated({
    extensions: [libSan({ type: 'dns', value: 'example.org' }), libAcme(acmeValue(DIGEST)), new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  t.same(await checkChallengeCertificate(extra, DNS, DIGEST), { ok: true }, 'Boulder tolerates further extensions (RFC 8737)');
});

t.test('accepts our own certificates', async (t) => {
  for (const id of [DNS, V4, V6, parseIdentifier('::ffff:192.0.2.1')]) {
    const cert = await createChallengeCertificate(id, DIGEST);
    t.same(await checkChallengeCertificate(cert.der, id, DIGEST), { ok: true }, id.sni);
  }
});

t.test('not self-signed', async (t) => {
  const foreign = await generated({ foreignSigner: true, extensions: [libSan({ type: 'dns', value: 'example.org' }), libAcme(acmeValue(DIGEST))] });
  t.same(await checkChallengeCertificate(foreign, DNS, DIGEST), certificateProblem('Received certificate which is not self-signed.'), 'signed by another key');
  const renamed = await generated({ issuer: 'CN=Someone Else', extensions: [libSan({ type: 'dns', value: 'example.org' }), libAcme(acmeValue(DIGEST))] });
  t.same(await checkChallengeCertificate(renamed, DNS, DIGEST), certificateProblem(CA_PROBLEMS.notSelfSigned), 'issuer differs from subject');
  // Same text, different bytes: PrintableString vs UTF8String.
  const keys = p256();
  const exts = [extension(SAN_OID, false, dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))];
  const encodings = certificate({ keys, issuer: cnName(tlv(0x13, new TextEncoder().encode('example.org'))), extensions: exts });
  t.same(await checkChallengeCertificate(encodings, DNS, DIGEST), certificateProblem(CA_PROBLEMS.notSelfSigned), 'issuer equal as text only');
  // Self-signature checked before anything else.
  const foreignAndBroken = certificate({ keys, signer: p256(), extensions: [] });
  t.same(await checkChallengeCertificate(foreignAndBroken, DNS, DIGEST), certificateProblem(CA_PROBLEMS.notSelfSigned));
});

t.test('signature algorithms Go accepts, and those it does not', async (t) => {
  const exts = [extension(SAN_OID, false, dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))];
  t.same(await checkChallengeCertificate(certificate({ keys: p256(), extensions: exts }), DNS, DIGEST), { ok: true }, 'ECDSA P-256');
  t.same(await checkChallengeCertificate(certificate({ keys: rsa('pkcs1'), extensions: exts }), DNS, DIGEST), { ok: true }, 'RSA PKCS#1 v1.5 SHA-256');
  t.same(await checkChallengeCertificate(certificate({ keys: rsa('pss'), extensions: exts }), DNS, DIGEST), { ok: true }, 'RSA-PSS SHA-256');
  t.same(await checkChallengeCertificate(certificate({ keys: ed25519(), extensions: exts }), DNS, DIGEST), { ok: true }, 'Ed25519');
  t.same(
    await checkChallengeCertificate(certificate({ keys: rsa('pkcs1', 768), extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'RSA under 1024 bits',
  );
  t.same(
    await checkChallengeCertificate(certificate({ keys: rsa('sha1'), extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'SHA-1 is insecure to Go',
  );
  const ec = p256();
  t.same(
    await checkChallengeCertificate(certificate({ keys: ec, innerAlg: ALG.ecdsaSha384, outerAlg: ALG.ecdsaSha384, extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'algorithm says SHA-384, signature is over SHA-256',
  );
  t.same(
    await checkChallengeCertificate(certificate({ keys: ec, innerAlg: ALG.rsaSha256, outerAlg: ALG.rsaSha256, extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'RSA algorithm with an EC key',
  );
  const edWithParams = seq(oid('1.3.101.112'), tlv(0x05, new Uint8Array()));
  t.same(
    await checkChallengeCertificate(certificate({ keys: ed25519(), innerAlg: edWithParams, outerAlg: edWithParams, extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'Ed25519 with parameters',
  );
  const unknown = seq(oid('1.2.3.4'));
  t.same(
    await checkChallengeCertificate(certificate({ keys: ec, innerAlg: unknown, outerAlg: unknown, extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'unknown algorithm',
  );
  const unknownKey = seq(seq(oid('1.2.3.4')), tlv(0x03, new Uint8Array([0, 1, 2, 3])));
  t.same(
    await checkChallengeCertificate(certificate({ keys: ec, spki: unknownKey, extensions: exts }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.notSelfSigned),
    'unknown key algorithm',
  );
  const signed = certificate({ keys: ec, extensions: exts });
  const padded = certificate({ keys: ec, extensions: exts, signatureBits: tlv(0x03, new Uint8Array([1]), new Uint8Array([0x30, 0x02])) });
  t.same(await checkChallengeCertificate(padded, DNS, DIGEST), certificateProblem(CA_PROBLEMS.notSelfSigned), 'BIT STRING with unused bits');
  const flipped = Uint8Array.from(signed);
  flipped[flipped.length - 1]! ^= 1;
  t.same(await checkChallengeCertificate(flipped, DNS, DIGEST), certificateProblem(CA_PROBLEMS.notSelfSigned), 'one bit of the signature flipped');
  t.match(await checkChallengeCertificate(certificate({ keys: secp256k1(), extensions: exts }), DNS, DIGEST), tlsFailure(/unsupported elliptic curve/), 'secp256k1');
});

t.test('required extensions', async (t) => {
  const acmeOnly = await generated({ extensions: [libAcme(acmeValue(DIGEST))] });
  t.same(
    await checkChallengeCertificate(acmeOnly, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected extensions: "Required extension OID 2.5.29.17 is not present"'),
  );
  const sanOnly = await generated({ extensions: [libSan({ type: 'dns', value: 'example.org' })] });
  t.same(
    await checkChallengeCertificate(sanOnly, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected extensions: "Required extension OID 1.3.6.1.5.5.7.1.31 is not present"'),
  );
  const none = await generated({ extensions: [] });
  t.same(await checkChallengeCertificate(none, DNS, DIGEST), certificateProblem(CA_PROBLEMS.unexpectedExtensions('Required extension OID 1.3.6.1.5.5.7.1.31 is not present')), 'acmeIdentifier reported first');
  const noExtensionsField = certificate({ keys: p256(), extensions: null });
  t.same(await checkChallengeCertificate(noExtensionsField, DNS, DIGEST), certificateProblem(CA_PROBLEMS.unexpectedExtensions('Required extension OID 1.3.6.1.5.5.7.1.31 is not present')), 'no [3] at all');
  const obsolete = certificate({ keys: p256(), extensions: [extension(SAN_OID, false, dnsSan('example.org')), extension('1.3.6.1.5.5.7.1.30.1', true, acmeValue(DIGEST))] });
  t.same(
    await checkChallengeCertificate(obsolete, DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.unexpectedExtensions('Required extension OID 1.3.6.1.5.5.7.1.31 is not present')),
    'the draft OID 1.3.6.1.5.5.7.1.30.1 is no longer accepted',
  );
});

t.test('duplicate extensions never reach Boulder: Go refuses them in the handshake', async (t) => {
  const keys = p256();
  const san = extension(SAN_OID, false, dnsSan('example.org'));
  const acme = extension(ACME_OID, true, acmeValue(DIGEST));
  t.match(await checkChallengeCertificate(certificate({ keys, extensions: [san, acme, san] }), DNS, DIGEST), tlsFailure(/duplicate extensions \(OID 2\.5\.29\.17\)/), 'SAN twice');
  t.match(await checkChallengeCertificate(certificate({ keys, extensions: [acme, san, acme] }), DNS, DIGEST), tlsFailure(/duplicate extensions \(OID 1\.3\.6\.1\.5\.5\.7\.1\.31\)/), 'acmeIdentifier twice');
  const other = extension('2.5.29.19', false, seq());
  t.match(await checkChallengeCertificate(certificate({ keys, extensions: [san, other, acme, other] }), DNS, DIGEST), tlsFailure(/duplicate/), 'another extension twice');
});

t.test('subjectAltName must be exactly the identifier', async (t) => {
  const acme = libAcme(acmeValue(DIGEST));
  const two = await generated({ extensions: [libSan({ type: 'dns', value: 'example.org' }, { type: 'dns', value: 'www.example.org' }), acme] });
  t.same(
    await checkChallengeCertificate(two, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("example.org, www.example.org"): "wrong number of identifiers"'),
    'two SANs',
  );
  const wrong = await generated({ extensions: [libSan({ type: 'dns', value: 'other.example' }), acme] });
  t.same(
    await checkChallengeCertificate(wrong, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("example.org, other.example"): "identifier does not match expected identifier"'),
    'wrong name',
  );
  const upper = await generated({ subject: 'CN=Example.ORG', extensions: [libSan({ type: 'dns', value: 'EXAMPLE.ORG' }), acme] });
  t.same(
    await checkChallengeCertificate(upper, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("example.org"): "SAN extension does not match expected bytes"'),
    'same name in other case: equal-fold passes, bytes do not',
  );
  const withEmail = await generated({ extensions: [libSan({ type: 'dns', value: 'example.org' }, { type: 'email', value: 'Admin@example.org' }), acme] });
  t.same(
    await checkChallengeCertificate(withEmail, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("admin@example.org, example.org"): "SAN extension does not match expected bytes"'),
    'an extra rfc822Name',
  );
  const dnsAndIp = await generated({ extensions: [libSan({ type: 'dns', value: 'example.org' }, { type: 'ip', value: '192.0.2.1' }), acme] });
  t.same(
    await checkChallengeCertificate(dnsAndIp, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("192.0.2.1, example.org"): "wrong number of identifiers"'),
  );
  const empty = certificate({ keys: p256(), extensions: [extension(SAN_OID, false, seq()), extension(ACME_OID, true, acmeValue(DIGEST))] });
  t.same(
    await checkChallengeCertificate(empty, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("example.org"): "wrong number of identifiers"'),
    'empty SAN',
  );
  const trailing = certificate({
    keys: p256(),
    extensions: [extension(SAN_OID, false, new Uint8Array([...dnsSan('example.org'), 0])), extension(ACME_OID, true, acmeValue(DIGEST))],
  });
  t.same(
    await checkChallengeCertificate(trailing, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("example.org"): "SAN extension does not match expected bytes"'),
    'a byte after the SAN sequence',
  );
  const critical = certificate({ keys: p256(), extensions: [extension(SAN_OID, true, dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))] });
  t.same(await checkChallengeCertificate(critical, DNS, DIGEST), { ok: true }, 'a critical SAN is fine');
  const explicitFalse = certificate({ keys: p256(), extensions: [extension(SAN_OID, 'explicit-false', dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))] });
  t.same(await checkChallengeCertificate(explicitFalse, DNS, DIGEST), { ok: true }, 'an explicit FALSE is tolerated, as by Go');
});

t.test('subjectAltName for IP identifiers (RFC 8738)', async (t) => {
  const acme = libAcme(acmeValue(DIGEST));
  const dnsForIp = await generated({ subject: 'CN=192.0.2.1', extensions: [libSan({ type: 'dns', value: '192.0.2.1' }), acme] });
  t.same(
    await checkChallengeCertificate(dnsForIp, V4, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("192.0.2.1"): "wrong number of identifiers"'),
    'IP written as dNSName',
  );
  const reverseDns = await generated({ subject: 'CN=x', extensions: [libSan({ type: 'dns', value: '1.2.0.192.in-addr.arpa' }), acme] });
  t.same(
    await checkChallengeCertificate(reverseDns, V4, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("1.2.0.192.in-addr.arpa, x"): "wrong number of identifiers"'),
    'the reverse name as dNSName',
  );
  const otherIp = await generated({ subject: 'CN=192.0.2.1', extensions: [libSan({ type: 'ip', value: '192.0.2.2' }), acme] });
  t.same(
    await checkChallengeCertificate(otherIp, V4, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("192.0.2.1, 192.0.2.2"): "identifier does not match expected identifier"'),
  );
  const mappedBytes = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  const mapped = certificate({ keys: p256(), extensions: [extension(SAN_OID, false, ipSan(mappedBytes)), extension(ACME_OID, true, acmeValue(DIGEST))] });
  t.same(
    await checkChallengeCertificate(mapped, V4, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("192.0.2.1, example.org"): "SAN extension does not match expected bytes"'),
    '16-byte IPv4-mapped form for an IPv4 identifier: Go calls them equal, the bytes differ',
  );
  const v6 = await generated({ subject: 'CN=2001:db8::1', extensions: [libSan({ type: 'ip', value: '2001:db8::2' }), acme] });
  t.same(
    await checkChallengeCertificate(v6, V6, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("2001:db8::1, 2001:db8::2"): "identifier does not match expected identifier"'),
  );
  const ipForDns = await generated({ extensions: [libSan({ type: 'ip', value: '192.0.2.1' }), acme] });
  t.same(
    await checkChallengeCertificate(ipForDns, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("192.0.2.1, example.org"): "wrong number of identifiers"'),
  );
});

t.test('names in the message come from every string type Go reads', async (t) => {
  const keys = p256();
  const acme = extension(ACME_OID, true, acmeValue(DIGEST));
  const wrongSan = extension(SAN_OID, false, dnsSan('other.example'));
  const enc = (text: string) => new TextEncoder().encode(text);
  const bmp = (text: string, terminator = false) =>
    new Uint8Array([...Buffer.from(text, 'utf16le').swap16(), ...(terminator ? [0, 0] : [])]);
  const names: [string, Uint8Array, string][] = [
    ['PrintableString', tlv(0x13, enc('Printable Name')), 'printable name'],
    ['T61String', tlv(0x14, new Uint8Array([0x54, 0xe9])), 'té'],
    ['IA5String', tlv(0x16, enc('IA5.Example')), 'ia5.example'],
    ['NumericString', tlv(0x12, enc('12 34')), '12 34'],
    ['BMPString', tlv(0x1e, bmp('Bmp Ünïcode')), 'bmp ünïcode'],
    ['BMPString with terminator', tlv(0x1e, bmp('Bmp', true)), 'bmp'],
    ['UTF8String', utf8('Ütf8 ✓'), 'ütf8 ✓'],
  ];
  for (const [what, value, shown] of names) {
    const der = certificate({ keys, subject: cnName(value), issuer: cnName(value), extensions: [wrongSan, acme] });
    t.same(
      await checkChallengeCertificate(der, DNS, DIGEST),
      certificateProblem(CA_PROBLEMS.unexpectedIdentifiers([shown, 'other.example'].sort().join(', '), 'identifier does not match expected identifier')),
      what,
    );
  }
  const lastCn = seq(set(seq(oid('2.5.4.3'), utf8('first'))), set(seq(oid('2.5.4.10'), utf8('Org')), seq(oid('2.5.4.3'), utf8('Second'))));
  t.same(
    await checkChallengeCertificate(certificate({ keys, subject: lastCn, issuer: lastCn, extensions: [wrongSan, acme] }), DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.unexpectedIdentifiers('other.example, second', 'identifier does not match expected identifier')),
    'the last CN counts, as in Go',
  );
  const quoted = certificate({ keys, subject: cnName('a "quoted"\\name'), issuer: cnName('a "quoted"\\name'), extensions: [wrongSan, acme] });
  t.same(
    await checkChallengeCertificate(quoted, DNS, DIGEST),
    certificateProblem('Received certificate with unexpected identifiers ("a \\"quoted\\"\\\\name, other.example"): "identifier does not match expected identifier"'),
    'Go-quoted',
  );
  const bad: [string, Uint8Array, RegExp][] = [
    ['IA5String with 8-bit byte', tlv(0x16, new Uint8Array([0x41, 0xc3])), /invalid IA5String/],
    ['NumericString with a letter', tlv(0x12, enc('12a')), /invalid NumericString/],
    ['BMPString of odd length', tlv(0x1e, new Uint8Array([0, 0x41, 0])), /invalid BMPString/],
  ];
  for (const [what, value, detail] of bad) {
    const der = certificate({ keys, subject: cnName(value), issuer: cnName(value), extensions: [wrongSan, acme] });
    t.match(await checkChallengeCertificate(der, DNS, DIGEST), tlsFailure(detail), what);
  }
  const uri = certificate({ keys, extensions: [extension(SAN_OID, false, seq(tlv(0x82, enc('example.org')), tlv(0x86, enc('https://Example.org/x')))), acme] });
  t.same(
    await checkChallengeCertificate(uri, DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.unexpectedIdentifiers('example.org, https://example.org/x', 'SAN extension does not match expected bytes')),
    'URIs listed too',
  );
  const other = certificate({ keys, extensions: [extension(SAN_OID, false, seq(tlv(0x82, enc('example.org')), tlv(0xa0, seq(oid('1.2.3'), tlv(0xa0, utf8('x')))))), acme] });
  t.same(
    await checkChallengeCertificate(other, DNS, DIGEST),
    certificateProblem(CA_PROBLEMS.unexpectedIdentifiers('example.org', 'SAN extension does not match expected bytes')),
    'an otherName is ignored by Go but still breaks the byte comparison',
  );
  t.match(
    await checkChallengeCertificate(certificate({ keys, extensions: [extension(SAN_OID, false, seq(tlv(0x81, new Uint8Array([0xff])))), acme] }), DNS, DIGEST),
    tlsFailure(/SAN rfc822Name is malformed/),
  );
  t.match(
    await checkChallengeCertificate(certificate({ keys, extensions: [extension(SAN_OID, false, seq(tlv(0x86, new Uint8Array([0xff])))), acme] }), DNS, DIGEST),
    tlsFailure(/SAN uniformResourceIdentifier is malformed/),
  );
});

t.test('acmeIdentifier: critical, 32-byte OCTET STRING, expected value', async (t) => {
  const san = libSan({ type: 'dns', value: 'example.org' });
  const nonCritical = await generated({ extensions: [san, libAcme(acmeValue(DIGEST), false)] });
  t.same(await checkChallengeCertificate(nonCritical, DNS, DIGEST), certificateProblem('Received certificate with acmeValidationV1 extension that is not Critical.'));
  t.same(await checkChallengeCertificate(nonCritical, DNS), certificateProblem(CA_PROBLEMS.notCritical), 'also without expected digest');
  const wrong = await generated({ extensions: [san, libAcme(acmeValue(OTHER_DIGEST))] });
  t.same(
    await checkChallengeCertificate(wrong, DNS, DIGEST),
    certificateProblem(`Received certificate with acmeValidationV1 extension value ${hex(OTHER_DIGEST)} but expected ${hex(DIGEST)}.`),
  );
  t.same(await checkChallengeCertificate(wrong, DNS), { ok: true }, 'any 32 bytes without an expected digest');
  const malformed = 'Received certificate with malformed acmeValidationV1 extension value.';
  const values: Record<string, Uint8Array> = {
    '31 bytes': octets(DIGEST.subarray(1)),
    '33 bytes': octets(new Uint8Array([...DIGEST, 0])),
    'empty OCTET STRING': octets(new Uint8Array()),
    'raw digest, no OCTET STRING': new Uint8Array(32).fill(0xaa),
    'UTF8String instead': utf8('a'.repeat(32)),
    'trailing byte': new Uint8Array([...acmeValue(DIGEST), 0]),
    'constructed OCTET STRING': tlv(0x24, octets(DIGEST)),
    'non-minimal length': new Uint8Array([0x04, 0x81, 0x20, ...DIGEST]),
    'empty value': new Uint8Array(),
  };
  for (const [what, value] of Object.entries(values)) {
    const cert = await generated({ extensions: [san, libAcme(value)] });
    t.same(await checkChallengeCertificate(cert, DNS, DIGEST), certificateProblem(malformed), what);
    t.same(await checkChallengeCertificate(cert, DNS), certificateProblem(malformed), `${what}, no expected digest`);
  }
  const nonCriticalAndShort = await generated({ extensions: [san, libAcme(octets(DIGEST.subarray(1)), false)] });
  t.same(await checkChallengeCertificate(nonCriticalAndShort, DNS, DIGEST), certificateProblem(CA_PROBLEMS.notCritical), 'criticality checked before shape');
  const badSanWrongValue = await generated({ extensions: [libSan({ type: 'dns', value: 'other.example' }), libAcme(acmeValue(OTHER_DIGEST))] });
  t.match(await checkChallengeCertificate(badSanWrongValue, DNS, DIGEST), { problem: /unexpected identifiers/ }, 'SAN checked before the value');
  await t.rejects(checkChallengeCertificate(wrong, DNS, DIGEST.subarray(1)), AlpnResponderError, 'a 31-byte expectation is a caller bug');
});

t.test('what Go\'s certificate parser refuses', async (t) => {
  const keys = p256();
  const exts = [extension(SAN_OID, false, dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))];
  const valid = certificate({ keys, extensions: exts });
  t.same(await checkChallengeCertificate(valid, DNS, DIGEST), { ok: true }, 'the baseline is fine');
  const cases: [string, Uint8Array, RegExp][] = [
    ['negative serial', certificate({ keys, extensions: exts, serial: new Uint8Array([0x80, 1]) }), /negative serial number/],
    ['empty serial', certificate({ keys, extensions: exts, serial: new Uint8Array() }), /malformed serial number/],
    ['non-minimal serial', certificate({ keys, extensions: exts, serial: new Uint8Array([0, 1]) }), /malformed serial number/],
    ['inner/outer algorithms differ', certificate({ keys, extensions: exts, outerAlg: ALG.ecdsaSha384 }), /inner and outer signature algorithm identifiers don't match/],
    ['version 4', certificate({ keys, extensions: exts, version: 3 }), /invalid version/],
    ['negative version', certificate({ keys, extensions: exts, version: tlv(0x02, new Uint8Array([0xff])) }), /malformed version/],
    ['version not an INTEGER', certificate({ keys, extensions: exts, version: utf8('3') }), /malformed version/],
    ['duplicate after a malformed SAN', certificate({ keys, extensions: [extension(SAN_OID, false, ipSan(new Uint8Array(5))), exts[1]!, exts[1]!] }), /duplicate extensions/],
    ['SAN iPAddress of 5 bytes', certificate({ keys, extensions: [extension(SAN_OID, false, ipSan(new Uint8Array(5))), exts[1]!] }), /cannot parse IP address of length 5/],
    ['non-ASCII dNSName', certificate({ keys, extensions: [extension(SAN_OID, false, dnsSan('bücher.example')), exts[1]!] }), /SAN dNSName is malformed/],
    ['SAN not a SEQUENCE', certificate({ keys, extensions: [extension(SAN_OID, false, utf8('example.org')), exts[1]!] }), /subject alternative names/],
    ['critical flag not DER', certificate({ keys, extensions: [seq(oid(SAN_OID), tlv(0x01, new Uint8Array([1])), octets(dnsSan('example.org'))), exts[1]!] }), /critical field/],
    ['PrintableString with @', certificate({ keys, extensions: exts, subject: cnName(tlv(0x13, new TextEncoder().encode('a@b'))) }), /invalid PrintableString/],
    ['unsupported string type', certificate({ keys, extensions: exts, subject: cnName(tlv(0x1c, new Uint8Array(4))) }), /unsupported string type/],
    ['invalid UTF-8', certificate({ keys, extensions: exts, subject: cnName(tlv(0x0c, new Uint8Array([0xff]))) }), /invalid UTF-8/],
    ['bad time', certificate({ keys, extensions: exts, validity: seq(tlv(0x17, new TextEncoder().encode('251301000000Z')), tlv(0x17, new TextEncoder().encode('491231235959Z'))) }), /malformed UTCTime/],
    ['time of another type', certificate({ keys, extensions: exts, validity: seq(utf8('now'), utf8('later')) }), /unsupported time format/],
    ['missing validity', certificate({ keys, extensions: exts, validity: new Uint8Array() }), /unsupported time format/],
    ['extension value not an OCTET STRING', certificate({ keys, extensions: [seq(oid(SAN_OID), utf8('x')), exts[1]!] }), /extension value field/],
    ['bad OID', certificate({ keys, extensions: [seq(tlv(0x06, new Uint8Array([0x80, 0x01])), octets(new Uint8Array())), ...exts] }), /OID/],
    ['signature not a BIT STRING', certificate({ keys, extensions: exts, signatureBits: octets(new Uint8Array(8)) }), /malformed signature/],
    ['empty BIT STRING', certificate({ keys, extensions: exts, signatureBits: tlv(0x03) }), /malformed signature/],
  ];
  for (const [what, der, detail] of cases) t.match(await checkChallengeCertificate(der, DNS, DIGEST), tlsFailure(detail), what);
});

t.test('times, extensions and keys as Go reads them', async (t) => {
  const keys = p256();
  const exts = [extension(SAN_OID, false, dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))];
  const enc = (text: string) => new TextEncoder().encode(text);
  const times = (a: number, from: string, b: number, to: string) => seq(tlv(a, enc(from)), tlv(b, enc(to)));
  const accepted: [string, Uint8Array][] = [
    ['UTCTime with minutes only', times(0x17, '2501010000Z', 0x17, '491231235959Z')],
    ['UTCTime with an offset', times(0x17, '250101000000+0130', 0x17, '491231235959-2359')],
    ['29 February of a leap year', times(0x17, '240229000000Z', 0x18, '20000229000000Z')],
    ['GeneralizedTime', times(0x18, '20250101000000Z', 0x18, '99991231235959Z')],
  ];
  for (const [what, validity] of accepted) t.same(await checkChallengeCertificate(certificate({ keys, validity, extensions: exts }), DNS, DIGEST), { ok: true }, what);
  const refusedTimes: [string, Uint8Array, RegExp][] = [
    ['29 February 2025', times(0x17, '250229000000Z', 0x17, '491231235959Z'), /malformed UTCTime/],
    ['29 February 2100', times(0x17, '250101000000Z', 0x18, '21000229000000Z'), /malformed GeneralizedTime/],
    ['31 April', times(0x17, '250431000000Z', 0x17, '491231235959Z'), /malformed UTCTime/],
    ['hour 24', times(0x17, '250101240000Z', 0x17, '491231235959Z'), /malformed UTCTime/],
    ['+0000 instead of Z', times(0x17, '250101000000+0000', 0x17, '491231235959Z'), /malformed UTCTime/],
    ['no zone', times(0x17, '250101000000', 0x17, '491231235959Z'), /malformed UTCTime/],
    ['fraction of a second', times(0x17, '250101000000Z', 0x18, '20500101000000.5Z'), /malformed GeneralizedTime/],
    ['GeneralizedTime without seconds', times(0x17, '250101000000Z', 0x18, '205001010000Z'), /malformed GeneralizedTime/],
  ];
  for (const [what, validity, detail] of refusedTimes) t.match(await checkChallengeCertificate(certificate({ keys, validity, extensions: exts }), DNS, DIGEST), tlsFailure(detail), what);

  const I = (...b: number[]) => tlv(0x02, new Uint8Array(b));
  const known: [string, Uint8Array, RegExp | undefined][] = [
    ['basicConstraints', extension('2.5.29.19', true, seq(tlv(0x01, new Uint8Array([0xff])), I(0))), undefined],
    ['empty basicConstraints', extension('2.5.29.19', false, seq()), undefined],
    ['basicConstraints not a SEQUENCE', extension('2.5.29.19', false, utf8('x')), /invalid basic constraints a/],
    ['basicConstraints with BOOLEAN 01', extension('2.5.29.19', false, seq(tlv(0x01, new Uint8Array([1])))), /invalid basic constraints b/],
    ['basicConstraints with a non-minimal path length', extension('2.5.29.19', false, seq(I(0, 1))), /invalid basic constraints c/],
    ['keyUsage', extension('2.5.29.15', true, tlv(0x03, new Uint8Array([7, 0x80]))), undefined],
    ['keyUsage with set padding bits', extension('2.5.29.15', true, tlv(0x03, new Uint8Array([7, 0x81]))), /invalid key usage/],
    ['extKeyUsage', extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), undefined],
    ['extKeyUsage of strings', extension('2.5.29.37', false, seq(utf8('serverAuth'))), /invalid extended key usages/],
    ['subjectKeyIdentifier', extension('2.5.29.14', false, octets(new Uint8Array(20))), undefined],
    ['subjectKeyIdentifier not an OCTET STRING', extension('2.5.29.14', false, utf8('x')), /invalid subject key identifier/],
    ['authorityKeyIdentifier', extension('2.5.29.35', false, seq(tlv(0x80, new Uint8Array(20)))), undefined],
    ['authorityKeyIdentifier not a SEQUENCE', extension('2.5.29.35', false, utf8('x')), /invalid authority key identifier/],
    ['certificatePolicies', extension('2.5.29.32', false, seq(seq(oid('2.23.140.1.2.1')))), undefined],
    ['certificatePolicies without OID', extension('2.5.29.32', false, seq(seq(utf8('x')))), /invalid certificate policies/],
    ['authorityInfoAccess', extension('1.3.6.1.5.5.7.1.1', false, seq(seq(oid('1.3.6.1.5.5.7.48.1'), tlv(0x86, enc('http://o.example/'))))), undefined],
    ['authorityInfoAccess without method', extension('1.3.6.1.5.5.7.1.1', false, seq(seq(utf8('x')))), /invalid authority info access/],
    ['cRLDistributionPoints', extension('2.5.29.31', false, seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, enc('http://c.example/'))))))), undefined],
    ['cRLDistributionPoints with a bad name', extension('2.5.29.31', false, seq(seq(tlv(0xa0, utf8('x'))))), /invalid CRL distribution points/],
    ['unknown critical extension', extension('1.2.3.4', true, utf8('anything')), undefined],
  ];
  for (const [what, ext, detail] of known) {
    const check = await checkChallengeCertificate(certificate({ keys, extensions: [...exts, ext] }), DNS, DIGEST);
    if (detail === undefined) t.same(check, { ok: true }, what);
    else t.match(check, tlsFailure(detail), what);
  }

  const ec = p256();
  const point = ec.spki.subarray(ec.spki.length - 65);
  const ecAlg = seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7'));
  const spki = (alg: Uint8Array, key: Uint8Array) => seq(alg, tlv(0x03, new Uint8Array([0]), key));
  const compressed = new Uint8Array([2 + (point[64]! & 1), ...point.subarray(1, 33)]);
  const offCurve = Uint8Array.from(point);
  offCurve[64]! ^= 1;
  const rsaKey = rsa('pkcs1');
  const rsaSpki = DerReader.over(rsaKey.spki, new DerReader(rsaKey.spki).read(TAG.SEQUENCE, 'spki'));
  rsaSpki.read(TAG.SEQUENCE, 'algorithm');
  const rsaBody = content(rsaKey.spki, rsaSpki.read(TAG.BIT_STRING, 'key')).subarray(1);
  t.equal(rsaBody[0], 0x30, 'RSAPublicKey extracted');
  const keyCases: [string, Uint8Array, RegExp][] = [
    ['compressed EC point', spki(ecAlg, compressed), /failed to unmarshal elliptic curve point/],
    ['EC point off the curve', spki(ecAlg, offCurve), /failed to unmarshal elliptic curve point/],
    ['EC key without curve', spki(seq(oid('1.2.840.10045.2.1')), point), /invalid ECDSA parameters/],
    ['EC key with explicit curve parameters', spki(seq(oid('1.2.840.10045.2.1'), seq(I(1))), point), /invalid ECDSA parameters/],
    ['RSA key without NULL parameters', spki(seq(oid('1.2.840.113549.1.1.1')), rsaBody), /RSA key missing NULL parameters/],
    ['RSA key with a truncated modulus', spki(seq(oid('1.2.840.113549.1.1.1'), tlv(0x05)), seq(tlv(0x02))), /invalid RSA modulus/],
    ['RSA key without exponent', spki(seq(oid('1.2.840.113549.1.1.1'), tlv(0x05)), seq(I(0x7f, 1))), /invalid RSA public exponent/],
    ['RSA key with a negative modulus', spki(seq(oid('1.2.840.113549.1.1.1'), tlv(0x05)), seq(I(0x80, 1), I(1, 0, 1))), /RSA modulus is not a positive number/],
    ['RSA key with exponent 0', spki(seq(oid('1.2.840.113549.1.1.1'), tlv(0x05)), seq(I(0x7f, 1), I(0))), /RSA public exponent is not a positive number/],
    ['RSA key that is no SEQUENCE', spki(seq(oid('1.2.840.113549.1.1.1'), tlv(0x05)), utf8('x')), /invalid RSA public key/],
    ['Ed25519 key of 31 bytes', spki(seq(oid('1.3.101.112')), new Uint8Array(31)), /wrong Ed25519 public key size/],
    ['Ed25519 key with parameters', spki(seq(oid('1.3.101.112'), tlv(0x05)), new Uint8Array(32)), /Ed25519 key encoded with illegal parameters/],
    ['key BIT STRING with set padding bits', seq(ecAlg, tlv(0x03, new Uint8Array([1]), new Uint8Array([0x01]))), /malformed subjectPublicKey/],
  ];
  for (const [what, key, detail] of keyCases) t.match(await checkChallengeCertificate(certificate({ keys: ec, spki: key, extensions: exts }), DNS, DIGEST), tlsFailure(detail), what);
  t.same(
    await checkChallengeCertificate(certificate({ keys: rsaKey, spki: spki(seq(oid('1.2.840.113549.1.1.1'), tlv(0x05)), rsaBody), extensions: exts }), DNS, DIGEST),
    { ok: true },
    'the same RSA key re-wrapped is fine',
  );
});

t.test('garbage never throws', async (t) => {
  const keys = p256();
  const valid = certificate({ keys, extensions: [extension(SAN_OID, false, dnsSan('example.org')), extension(ACME_OID, true, acmeValue(DIGEST))] });
  t.match(await checkChallengeCertificate(new Uint8Array(), DNS, DIGEST), tlsFailure(/malformed certificate/), 'empty');
  t.match(await checkChallengeCertificate(new TextEncoder().encode('-----BEGIN CERTIFICATE-----'), DNS, DIGEST), tlsFailure(/malformed certificate/), 'PEM text');
  t.match(await checkChallengeCertificate(new Uint8Array([...valid, 0]), DNS, DIGEST), tlsFailure(/trailing data/), 'trailing byte');
  t.match(await checkChallengeCertificate(new Uint8Array([0x30, 0x80, 0, 0]), DNS, DIGEST), tlsFailure(/indefinite/), 'BER indefinite length');
  t.match(await checkChallengeCertificate(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), DNS, DIGEST), tlsFailure(/length exceeds/), 'huge length');
  t.match(await checkChallengeCertificate(new Uint8Array([0x3f, 0x01, 0x00]), DNS, DIGEST), tlsFailure(/malformed certificate/), 'another outer tag');
  t.match(await checkChallengeCertificate('not bytes' as unknown as Uint8Array, DNS, DIGEST), tlsFailure(/malformed certificate/), 'not a Uint8Array');
  let prefixes = 0;
  for (let n = 0; n < valid.length; n++) {
    const check = await checkChallengeCertificate(valid.subarray(0, n), DNS, DIGEST);
    if (!check.ok && check.stage === 'tls') prefixes++;
  }
  t.equal(prefixes, valid.length, 'every truncation is refused at the TLS stage');
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
      const check = await checkChallengeCertificate(bytes, DNS, DIGEST);
      return check.ok === false;
    }),
    { numRuns: 500 },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      async (flips) => {
        const mutated = Uint8Array.from(valid);
        for (const [at, xor] of flips) mutated[at]! ^= xor;
        const check = await checkChallengeCertificate(mutated, DNS, DIGEST);
        return typeof check.ok === 'boolean';
      },
    ),
    { numRuns: 1500 },
  );
  t.pass('random bytes and mutated certificates give verdicts, not exceptions');
});

t.test('caProblemDetail', async (t) => {
  t.equal(
    caProblemDetail(certificateProblem(CA_PROBLEMS.notSelfSigned) as Extract<CertificateCheck, { ok: false }>, DNS, '192.0.2.10'),
    'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.10:443. Received certificate which is not self-signed.',
  );
  t.equal(
    caProblemDetail({ ok: false, stage: 'certificate', problem: 'X.' }, V6, '2001:db8::1', 8443),
    'Incorrect validation certificate for tls-alpn-01 challenge. Requested 2001:db8::1 from [2001:db8::1]:8443. X.',
  );
  t.equal(caProblemDetail({ ok: false, stage: 'tls', problem: CA_PROBLEMS.connection }, DNS, '2001:db8::1'), '2001:db8::1: Error getting validation data');
});

t.test('goQuote matches Go\'s %q', async (t) => {
  t.equal(goQuote('plain, text'), '"plain, text"');
  t.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  t.equal(goQuote('tab\tnl\ncr\r'), '"tab\\tnl\\ncr\\r"');
  t.equal(goQuote('\u0000\u001f\u007f'), '"\\x00\\x1f\\x7f"');
  t.equal(goQuote('bücher ✓ 😀'), '"bücher ✓ 😀"');
  t.equal(goQuote('\u00ad\u200b'), '"\\u00ad\\u200b"');
  t.equal(goQuote('\u{e0001}'), '"\\U000e0001"');
});
