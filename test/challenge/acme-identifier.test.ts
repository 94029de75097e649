import t from 'tap';
import { acmeIdentifierDigest } from '../../src/challenge/acme-identifier.js';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { ACME_OID, SAN_OID, acmeValue, cnName, dnsSan, extension, integer, octets, oid, seq, tlv } from './cert-builder.js';

const digest = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

/** A certificate's shape, enough for the reader: it checks no signature, names or times. */
function certificate(extensions: Uint8Array[] | undefined): Uint8Array {
  const algorithm = seq(oid('1.2.840.10045.4.3.2'));
  const validity = seq(tlv(0x17, new TextEncoder().encode('250101000000Z')), tlv(0x17, new TextEncoder().encode('350101000000Z')));
  const spki = seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), tlv(0x03, new Uint8Array([0, 4, 1, 2])));
  const fields = [integer(1), algorithm, cnName('x'), validity, cnName('x'), spki];
  const tbs = extensions === undefined ? seq(...fields) : seq(tlv(0xa0, integer(2)), ...fields, tlv(0xa3, seq(...extensions)));
  return seq(tbs, algorithm, tlv(0x03, new Uint8Array([0, 1])));
}

t.test('reads the digest of a certificate the daemon builds', async (t) => {
  const built = await createChallengeCertificate(parseIdentifier('a.example.test'), digest);
  t.same(acmeIdentifierDigest(built.der), digest);
});

t.test('finds the extension among others, critical or not', async (t) => {
  const san = extension(SAN_OID, false, dnsSan('a.example.test'));
  t.same(acmeIdentifierDigest(certificate([san, extension(ACME_OID, true, acmeValue(digest))])), digest, 'after the subjectAltName');
  t.same(acmeIdentifierDigest(certificate([extension(ACME_OID, false, acmeValue(digest)), san])), digest, 'first, not critical');
});

t.test('anything else is undefined, never an exception', async (t) => {
  const san = extension(SAN_OID, false, dnsSan('a.example.test'));
  const cases: [string, Uint8Array][] = [
    ['no acmeIdentifier', certificate([san])],
    ['no extensions at all (v1)', certificate(undefined)],
    ['31 bytes', certificate([extension(ACME_OID, true, acmeValue(digest.subarray(1)))])],
    ['33 bytes', certificate([extension(ACME_OID, true, acmeValue(Uint8Array.from([...digest, 0])))])],
    ['not an OCTET STRING inside', certificate([extension(ACME_OID, true, tlv(0x0c, digest))])],
    ['bytes after the OCTET STRING', certificate([extension(ACME_OID, true, Uint8Array.from([...octets(digest), 0]))])],
    ['empty', new Uint8Array()],
    ['garbage', Uint8Array.from([0x30, 0x82, 0xff, 0xff, 1, 2, 3])],
  ];
  const whole = certificate([san, extension(ACME_OID, true, acmeValue(digest))]);
  for (let cut = 1; cut < whole.length; cut += 7) cases.push([`cut at ${cut}`, whole.subarray(0, cut)]);
  for (const [what, der] of cases) t.equal(acmeIdentifierDigest(der), undefined, what);
});
