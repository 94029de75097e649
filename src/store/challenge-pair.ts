/**
 * Turns one challenge certificate + key pair written by dehydrated (`NAME.crt.pem`, `NAME.key.pem` in its
 * ALPNCERTDIR) into a servable challenge, or says why it cannot be served and whether waiting could help.
 */
import { X509Certificate as NodeX509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { DerReader, TAG, content, decodeOid } from '../challenge/der.js';
import { parseIdentifier, type Identifier } from '../challenge/identifier.js';
import { checkChallengeCertificate } from '../challenge/verify.js';
import { ACME_IDENTIFIER_OID } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import type { Challenge } from './challenge-store.js';

/** Why a pair is not served, as logged in `reason=`. */
export type PairSkipReason =
  | 'bad-name'
  | 'bad-certificate'
  | 'bad-key'
  | 'key-mismatch'
  | 'invalid-challenge-certificate'
  | 'tls-context';

/** Outcome of {@link loadChallengePair}. */
export type PairLoad =
  | { readonly ok: true; readonly challenge: Challenge; readonly context: tls.SecureContext }
  | {
      readonly ok: false;
      readonly reason: PairSkipReason;
      /**
       * True when the files may simply be half-written (unparseable PEM, or a key from a newer pair than the
       * certificate): the caller retries for a while. False when the complete files can never be served.
       */
      readonly transient: boolean;
      readonly detail: string;
    };

const skip = (reason: PairSkipReason, transient: boolean, detail: string): PairLoad => ({ ok: false, reason, transient, detail });

/**
 * Checks a pair the way the CA will (see {@link checkChallengeCertificate}) against the identifier its file name
 * gives — a DNS name, or for IP identifiers the reverse-DNS name dehydrated names the files after — and builds
 * the TLS context. The challenge's digest is the certificate's acmeIdentifier value, its expiry the notAfter.
 */
export async function loadChallengePair(name: string, certPem: string, keyPem: string): Promise<PairLoad> {
  let identifier: Identifier;
  try {
    identifier = parseIdentifier(name);
  } catch (error) {
    if (error instanceof AlpnResponderError) return skip('bad-name', false, error.message);
    throw error;
  }
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(certPem);
  } catch (error) {
    return skip('bad-certificate', true, `not a PEM certificate: ${String(error)}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    return skip('bad-key', true, `not a PEM private key: ${String(error)}`);
  }
  const der = new Uint8Array(cert.raw);
  const check = await checkChallengeCertificate(der, identifier);
  if (!check.ok) {
    return skip('invalid-challenge-certificate', false, check.detail === undefined ? check.problem : `${check.problem} (${check.detail})`);
  }
  // dehydrated writes the key first: until the certificate is rewritten too, an old certificate meets a new key.
  if (!cert.checkPrivateKey(key)) return skip('key-mismatch', true, 'the key does not belong to the certificate');

  // The CA checks passed, so the acmeIdentifier extension is there and holds an OCTET STRING of 32 bytes.
  const digest = acmeIdentifierDigest(der);

  let context: tls.SecureContext;
  try {
    // RFC 8737 §4: "using TLS 1.2 or higher", as for certificates built from a deploy.
    context = tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' });
  } catch (error) {
    return skip('tls-context', false, String(error));
  }
  // validTo is OpenSSL's "Jun 22 12:34:56 2030 GMT", which Date parses (Node 20 has no validToDate yet).
  return { ok: true, challenge: { identifier, digest, expiresAt: new Date(cert.validTo) }, context };
}

/**
 * The acmeIdentifier digest of a certificate {@link checkChallengeCertificate} accepted — so well-formed DER with
 * that extension present exactly once, an OCTET STRING of 32 bytes. Walks the TBSCertificate fields of RFC 5280
 * §4.1 up to the extensions with the strict reader, rather than loading a certificate library into the daemon.
 */
function acmeIdentifierDigest(der: Uint8Array): Uint8Array {
  const certificate = DerReader.over(der, new DerReader(der).read(TAG.SEQUENCE, 'certificate'));
  const tbs = DerReader.over(der, certificate.read(TAG.SEQUENCE, 'tbs certificate'));
  // version (a v3 certificate: it has extensions), serialNumber, signature, issuer, validity, subject, spki,
  // then the optional issuerUniqueID [1] and subjectUniqueID [2] before extensions [3].
  for (const field of [0xa0, TAG.INTEGER, TAG.SEQUENCE, TAG.SEQUENCE, TAG.SEQUENCE, TAG.SEQUENCE, TAG.SEQUENCE]) {
    tbs.read(field, 'tbs certificate');
  }
  tbs.readOptional(0x81);
  tbs.readOptional(0x82);
  const wrapper = DerReader.over(der, tbs.read(0xa3, 'extensions'));
  const list = DerReader.over(der, wrapper.read(TAG.SEQUENCE, 'extensions'));
  for (;;) {
    const extension = DerReader.over(der, list.read(TAG.SEQUENCE, 'extension'));
    if (decodeOid(content(der, extension.read(TAG.OID, 'extension'))) !== ACME_IDENTIFIER_OID) continue;
    extension.readOptional(TAG.BOOLEAN);
    const value = content(der, extension.read(TAG.OCTET_STRING, 'extension'));
    return content(value, new DerReader(value).read(TAG.OCTET_STRING, 'acmeIdentifier')).slice();
  }
}
