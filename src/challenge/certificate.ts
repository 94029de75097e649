/**
 * Builds the TLS-ALPN-01 challenge certificate (RFC 8737 §3, RFC 8738 §6): self-signed, fresh ECDSA P-256 key,
 * exactly two extensions — the subjectAltName naming the identifier and nothing else, and the critical
 * acmeIdentifier holding the SHA-256 digest of the key authorization.
 */
import 'reflect-metadata';
import { createRequire } from 'node:module';
import * as x509 from '@peculiar/x509';
import { ACME_IDENTIFIER_OID } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import { acmeIdentifierValue, subjectAltNameValue } from './der.js';
import { DIGEST_LENGTH } from './authorization.js';
import { formatIdentifier, type Identifier } from './identifier.js';

/** A challenge certificate with its key, ready for `tls.createSecureContext({ key: keyPem, cert: certPem })`. */
export interface ChallengeCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM of the fresh P-256 key. */
  readonly keyPem: string;
  readonly der: Uint8Array;
  /** Exactly the notAfter written in the certificate (whole seconds). */
  readonly notAfter: Date;
}

/** Default validity after `now`: a week, longer than any CA keeps a challenge pending. */
export const DEFAULT_CERTIFICATE_VALIDITY_SECONDS = 7 * 24 * 3600;

/** Backdating of notBefore, for validators whose clock runs behind. */
const BACKDATE_SECONDS = 3600;

/** What RFC 5280 time encodings can express: UTCTime from 1950, GeneralizedTime up to the end of 9999. */
const EARLIEST = Date.UTC(1950, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59);

/** RFC 5280's ub-common-name: a longer name only goes in the SAN, the CN then says what the certificate is. */
const MAX_COMMON_NAME = 64;
const FALLBACK_COMMON_NAME = 'ACME TLS-ALPN-01 challenge';

const SUBJECT_ALT_NAME_OID = '2.5.29.17';

// @peculiar/webcrypto's "import" entry is an ES module in a package without "type": "module"; the TypeScript loader
// the tests run under cannot load it ("require() of ES Module in a cycle"), so take the CommonJS build explicitly.
const { Crypto } = createRequire(import.meta.url)('@peculiar/webcrypto') as typeof import('@peculiar/webcrypto');
const webcrypto = new Crypto();
x509.cryptoProvider.set(webcrypto);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * Builds a challenge certificate for `identifier` carrying `digest` (from {@link parseAuthorization}).
 *
 * notBefore is `now` − 1 hour and notAfter `now` + `validForSeconds`, both truncated to whole seconds.
 *
 * @throws AlpnResponderError ERR_CERTIFICATE on bad arguments or when the crypto provider fails.
 */
export async function createChallengeCertificate(
  identifier: Identifier,
  digest: Uint8Array,
  options: { now?: Date; validForSeconds?: number } = {},
): Promise<ChallengeCertificate> {
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_LENGTH) {
    throw new AlpnResponderError('ERR_CERTIFICATE', `the acmeIdentifier digest must be ${DIGEST_LENGTH} bytes`);
  }
  if (identifier.kind === 'ip' && identifier.bytes.length !== 4 && identifier.bytes.length !== 16) {
    throw new AlpnResponderError('ERR_CERTIFICATE', 'an IP identifier has 4 or 16 bytes');
  }
  const validFor = options.validForSeconds ?? DEFAULT_CERTIFICATE_VALIDITY_SECONDS;
  if (!Number.isSafeInteger(validFor) || validFor <= 0) {
    throw new AlpnResponderError('ERR_CERTIFICATE', `validForSeconds must be a positive whole number, not ${validFor}`);
  }
  const nowMs = (options.now ?? new Date()).getTime();
  if (!Number.isFinite(nowMs)) throw new AlpnResponderError('ERR_CERTIFICATE', '`now` is not a valid date');
  const nowSeconds = Math.floor(nowMs / 1000);
  const notBefore = new Date((nowSeconds - BACKDATE_SECONDS) * 1000);
  const notAfter = new Date((nowSeconds + validFor) * 1000);
  if (notBefore.getTime() < EARLIEST || notAfter.getTime() > LATEST) {
    throw new AlpnResponderError('ERR_CERTIFICATE', 'the validity period must lie between 1950 and 9999 (RFC 5280 §4.1.2.5)');
  }

  const human = formatIdentifier(identifier);
  const commonName = human.length <= MAX_COMMON_NAME ? human : FALLBACK_COMMON_NAME;
  // One Name object for both fields, so issuer and subject encode to the same bytes.
  const name = new x509.Name([{ CN: [{ utf8String: commonName }] }]);

  try {
    const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerialHex(),
        subject: name,
        issuer: name,
        notBefore,
        notAfter,
        publicKey: keys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: SIGNING_ALGORITHM,
        extensions: [
          new x509.Extension(SUBJECT_ALT_NAME_OID, false, subjectAltNameValue(identifier)),
          new x509.Extension(ACME_IDENTIFIER_OID, true, acmeIdentifierValue(digest)),
        ],
      },
      webcrypto,
    );
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      certPem: `${cert.toString('pem')}\n`,
      keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`,
      der: new Uint8Array(cert.rawData),
      notAfter,
    };
  } catch (error) {
    throw new AlpnResponderError('ERR_CERTIFICATE', `building the challenge certificate for ${human} failed`, {
      cause: error,
    });
  }
}

/** 16 random bytes, top bit clear and first byte non-zero: a positive INTEGER in minimal DER of exactly 16 bytes. */
function randomSerialHex(): string {
  const bytes = new Uint8Array(16);
  do webcrypto.getRandomValues(bytes);
  while ((bytes[0] as number) % 128 === 0);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}
