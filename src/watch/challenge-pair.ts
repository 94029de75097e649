/**
 * Turns one challenge certificate + key pair written by dehydrated (`NAME.crt.pem`, `NAME.key.pem` in its
 * ALPNCERTDIR) into a servable challenge, or says why it cannot be served and whether waiting could help.
 */
import { X509Certificate as NodeX509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import type tls from 'node:tls';
import { parseIdentifier, type Identifier } from '../challenge/identifier.js';
import { acmeIdentifierDigest } from '../challenge/acme-identifier.js';
import { checkChallengeCertificate } from '../diagnostics/verify.js';
import { AlpnResponderError } from '../errors.js';
import { challengeContext } from '../net/context-table.js';
import type { Challenge } from '../challenge/challenge.js';

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
  if (digest === undefined) return skip('invalid-challenge-certificate', false, 'no acmeIdentifier value');

  let context: tls.SecureContext;
  try {
    // The same TLS settings as for certificates built from a deploy.
    context = challengeContext({ certPem, keyPem });
  } catch (error) {
    return skip('tls-context', false, String(error));
  }
  // validTo is OpenSSL's "Jun 22 12:34:56 2030 GMT", which Date parses (Node 20 has no validToDate yet).
  return { ok: true, challenge: { identifier, digest, expiresAt: new Date(cert.validTo) }, context };
}
