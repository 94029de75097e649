/**
 * The CA's side of a TLS-ALPN-01 validation (RFC 8737 §3), for the tests that check what a daemon serves: the
 * digests they deploy, a TLS handshake that always settles, and the served certificate judged as Let's Encrypt
 * judges it.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { checkChallengeCertificate, type CertificateCheck } from '../../src/diagnostics/verify.js';
import { ACME_TLS_ALPN } from '../../src/constants.js';
import { CONNECTION_PROBLEMS } from '../../src/diagnostics/ca-texts.js';
import { dehydratedDigest } from './dehydrated-alpn.js';
import type { Endpoint } from './nginx.js';

/** The key authorization made up for `label`: a token and a 43-character account-key thumbprint. */
const keyAuthorization = (label: string): string => `token-${label}.${'A'.repeat(43)}`;

/** SHA-256 of the key authorization made up for `label`: the digest a test deploys, and what the CA expects. */
export function digestOf(label: string): Buffer {
  return createHash('sha256').update(keyAuthorization(label)).digest();
}

/** {@link digestOf} as dehydrated passes it to the hook: colon-separated hex. */
export function dehydratedDigestOf(label: string): string {
  return dehydratedDigest(keyAuthorization(label));
}

/** How one TLS handshake ended. */
export type Handshake =
  | {
      readonly ok: true;
      readonly alpn: string | false | null;
      /** The TLS version negotiated, e.g. `TLSv1.3`. */
      readonly protocol: string | null;
      /** The leaf certificate served. */
      readonly der: Buffer;
      /** The client's port, as a PROXY header and the daemon's log name it. */
      readonly localPort: number;
    }
  | {
      readonly ok: false;
      /** The client's error code, or its message when it has none. */
      readonly error: string;
    };

/**
 * One TLS 1.2+ handshake with `to` (no certificate verification) that always settles; `proxyHeader` is sent first,
 * as a front proxy would. Closes cleanly like the CA, so the TLS 1.3 client Finished reaches the server first.
 */
export function handshake(to: Endpoint, options: tls.ConnectionOptions = {}, proxyHeader?: string | Uint8Array): Promise<Handshake> {
  return new Promise((resolve) => {
    const raw = net.connect(to.port, to.host);
    if (proxyHeader !== undefined) raw.write(proxyHeader);
    const socket = tls.connect({ rejectUnauthorized: false, minVersion: 'TLSv1.2', ...options, socket: raw }, () => {
      resolve({
        ok: true,
        alpn: socket.alpnProtocol,
        protocol: socket.getProtocol(),
        der: socket.getPeerCertificate().raw,
        localPort: raw.localPort ?? 0,
      });
      socket.end();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      raw.destroy();
      resolve({ ok: false, error: error.code ?? error.message });
    });
  });
}

/** What the CA got in one validation attempt: the handshake, and when it completed, the CA's verdict. */
export type AcmeValidation = (Extract<Handshake, { ok: true }> & { readonly check: CertificateCheck }) | Extract<Handshake, { ok: false }>;

/** Options of {@link validateAsCa}. */
export interface AcmeValidationOptions {
  /** The digest the CA expects; default {@link digestOf} the identifier. */
  readonly digest?: Uint8Array;
  /** Sent before the ClientHello, as a front proxy would. */
  readonly proxyHeader?: string | Uint8Array;
  /** The highest TLS version offered (the CA offers 1.2 and 1.3). */
  readonly maxVersion?: tls.SecureVersion;
}

/**
 * Connects to `to` as the CA validating `identifier` does — SNI its name (for an IP, the reverse-DNS name of RFC
 * 8738), ALPN `acme-tls/1` only — and judges what is served in the CA's order: the certificate must parse, then
 * `acme-tls/1` must have been negotiated, then {@link checkChallengeCertificate} against the expected digest.
 */
export async function validateAsCa(to: Endpoint, identifier: string, options: AcmeValidationOptions = {}): Promise<AcmeValidation> {
  const id = parseIdentifier(identifier);
  const tlsOptions: tls.ConnectionOptions = { servername: id.sni, ALPNProtocols: [ACME_TLS_ALPN] };
  if (options.maxVersion !== undefined) tlsOptions.maxVersion = options.maxVersion;
  const served = await handshake(to, tlsOptions, options.proxyHeader);
  if (!served.ok) return served;
  return { ...served, check: await judgeAsCa(served, identifier, options.digest) };
}

/**
 * The CA's verdict on a completed handshake, whoever made it (this process, or a client on another Node.js): the
 * certificate must parse, then `acme-tls/1` must have been negotiated, then {@link checkChallengeCertificate}
 * against the expected digest (default {@link digestOf} the identifier).
 */
export async function judgeAsCa(
  served: { readonly der: Uint8Array; readonly alpn: string | false | null },
  identifier: string,
  digest: Uint8Array = digestOf(identifier),
): Promise<CertificateCheck> {
  const check = await checkChallengeCertificate(new Uint8Array(served.der), parseIdentifier(identifier), digest);
  const parsed = check.ok || check.stage !== 'tls';
  if (parsed && served.alpn !== ACME_TLS_ALPN) return { ok: false, stage: 'certificate', problem: CONNECTION_PROBLEMS.noAlpn };
  return check;
}

/** {@link validateAsCa} in one value: the CA's verdict on what was served, or the client's TLS error code. */
export async function caVerdict(to: Endpoint, identifier: string, digest?: Uint8Array): Promise<CertificateCheck | string> {
  const validation = await validateAsCa(to, identifier, { digest });
  return validation.ok ? validation.check : validation.error;
}
