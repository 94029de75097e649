/**
 * A readable summary of the certificate a server presented: what `validate` shows an operator so they can tell
 * whose certificate it is (a challenge certificate, the web server's Let's Encrypt certificate, a default one).
 */
import { X509Certificate, createHash } from 'node:crypto';
import { CA_PROBLEMS, type CertificateCheck } from './verify.js';

/** What was served, for hints and `--json`. */
export interface CertificateSummary {
  /** Distinguished name on one line, `CN=example.org, O=…`. */
  readonly subject: string;
  readonly issuer: string;
  /** subjectAltName entries as OpenSSL prints them: `DNS:example.org`, `IP Address:192.0.2.1`. */
  readonly san: string[];
  /** Self-signed in the CA's sense (its own key signs it, issuer equals subject). */
  readonly selfSigned: boolean;
  /** ISO 8601. */
  readonly notAfter: string;
  /** SHA-256 of the DER, lower-case hex. */
  readonly sha256: string;
}

/**
 * Summarises `der`. `check` is the CA's verdict on it: when the CA got as far as its self-signature check, that
 * verdict is what `selfSigned` reports, so the summary never contradicts the CA's text.
 *
 * @returns undefined when OpenSSL cannot read the certificate at all
 */
export function summarizeCertificate(der: Uint8Array, check: CertificateCheck): CertificateSummary | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return undefined;
  }
  const reachedSelfSignedCheck = check.ok || check.stage === 'certificate';
  const notAfter = new Date(cert.validTo);
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    san: cert.subjectAltName === undefined ? [] : cert.subjectAltName.split(', '),
    selfSigned: reachedSelfSignedCheck
      ? check.ok || check.problem !== CA_PROBLEMS.notSelfSigned
      : cert.checkIssued(cert) && cert.verify(cert.publicKey),
    notAfter: Number.isNaN(notAfter.getTime()) ? cert.validTo : notAfter.toISOString(),
    sha256: createHash('sha256').update(der).digest('hex'),
  };
}

function oneLine(name: string): string {
  return name.split('\n').filter((part) => part !== '').join(', ');
}
