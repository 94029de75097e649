/**
 * Builds the TLS-ALPN-01 challenge certificate (RFC 8737 §3, RFC 8738 §6): self-signed, fresh ECDSA P-256 key,
 * exactly two extensions — the subjectAltName naming the identifier and nothing else, and the critical
 * acmeIdentifier holding the SHA-256 digest of the key authorization.
 *
 * This is the deploy hot path, so the DER is encoded here directly, `node:crypto` doing only the key and the
 * signature: a certificate library (@peculiar/x509 with reflect-metadata and asn1js) cost over a millisecond per
 * certificate and about 8 MB of the daemon's idle memory just to be loaded, for a structure that never varies.
 * Parsing is another matter — certificates from outside go through the strict reader in verify.ts — and the
 * independent parsers (@peculiar/x509, Node's, OpenSSL's) stay in the tests, which cross-check every field written
 * here.
 */
import { generateKeyPair, randomFillSync, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { ACME_IDENTIFIER_OID } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import {
  TAG,
  acmeIdentifierValue,
  concat,
  encode,
  encodeOid,
  encodeTime,
  encodeUnsignedInteger,
  subjectAltNameValue,
} from './der.js';
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

/** RFC 5280 §4.1.2.2 "serialNumber … MUST be a positive integer … no longer than 20 octets"; ours are 16. */
const SERIAL_LENGTH = 16;

const generateEcKeyPair = promisify(generateKeyPair);

// The fixed parts, encoded once.
/** version [0] EXPLICIT INTEGER v3 — RFC 5280 §4.1.2.1: "When extensions are used … version MUST be 3 (value is 2)". */
const VERSION_V3 = encode(0xa0, encodeUnsignedInteger(Uint8Array.of(2)));
/**
 * ecdsa-with-SHA256, both in the TBSCertificate and around the signature (RFC 5280 §4.1.1.2: the two "MUST contain
 * the same algorithm identifier"). RFC 5758 §3.2: "the encoding MUST omit the parameters field".
 */
const ECDSA_WITH_SHA256 = encode(TAG.SEQUENCE, encodeOid('1.2.840.10045.4.3.2'));
const COMMON_NAME_OID = encodeOid('2.5.4.3');
const SUBJECT_ALT_NAME_OID = encodeOid('2.5.29.17');
const ACME_IDENTIFIER = encodeOid(ACME_IDENTIFIER_OID);
const CRITICAL = encode(TAG.BOOLEAN, Uint8Array.of(0xff));
/** The BIT STRING's leading octet: no unused bits in the signature. */
const NO_UNUSED_BITS = Uint8Array.of(0);
const EXTENSIONS_TAG = 0xa3;

/**
 * Builds a challenge certificate for `identifier` carrying `digest` (from {@link parseAuthorization}).
 *
 * notBefore is `now` − 1 hour and notAfter `now` + `validForSeconds`, both truncated to whole seconds.
 *
 * @throws AlpnResponderError ERR_CERTIFICATE on bad arguments or when key generation or signing fails.
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
  // Name ::= SEQUENCE OF SET OF { type, value }: one CN as UTF8String (RFC 5280 §4.1.2.4 "MUST use the
  // UTF8String encoding"). The same bytes go in issuer and subject: the certificate is self-signed, and the CA
  // compares the two byte for byte (see verify.ts).
  const name = encode(
    TAG.SEQUENCE,
    encode(TAG.SET, encode(TAG.SEQUENCE, concat(COMMON_NAME_OID, encode(TAG.UTF8_STRING, new TextEncoder().encode(commonName))))),
  );
  // RFC 8737 §3: the subjectAltName holds exactly the identifier; the acmeIdentifier extension "MUST be critical".
  // criticality is DEFAULT FALSE, and DER leaves out a value equal to the default (X.690 §11.5), so the SAN has
  // no BOOLEAN at all.
  const extensions = encode(
    EXTENSIONS_TAG,
    encode(
      TAG.SEQUENCE,
      concat(
        encode(TAG.SEQUENCE, concat(SUBJECT_ALT_NAME_OID, encode(TAG.OCTET_STRING, subjectAltNameValue(identifier)))),
        encode(TAG.SEQUENCE, concat(ACME_IDENTIFIER, CRITICAL, encode(TAG.OCTET_STRING, acmeIdentifierValue(digest)))),
      ),
    ),
  );

  try {
    const { publicKey, privateKey } = await generateEcKeyPair('ec', { namedCurve: 'prime256v1' });
    const tbs = encode(
      TAG.SEQUENCE,
      concat(
        VERSION_V3,
        encodeUnsignedInteger(randomSerial()),
        ECDSA_WITH_SHA256,
        name,
        encode(TAG.SEQUENCE, concat(encodeTime(notBefore), encodeTime(notAfter))),
        name,
        publicKey.export({ type: 'spki', format: 'der' }),
        extensions,
      ),
    );
    // Node's ECDSA signatures are DER ECDSA-Sig-Value, what RFC 5758 §3.2 puts in the signatureValue BIT STRING.
    const signature = sign('sha256', tbs, privateKey);
    const der = encode(TAG.SEQUENCE, concat(tbs, ECDSA_WITH_SHA256, encode(TAG.BIT_STRING, concat(NO_UNUSED_BITS, signature))));
    return {
      certPem: pem('CERTIFICATE', der),
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      der,
      notAfter,
    };
  } catch (error) {
    throw new AlpnResponderError('ERR_CERTIFICATE', `building the challenge certificate for ${human} failed`, {
      cause: error,
    });
  }
}

/**
 * 16 random bytes, top bit clear and first byte non-zero: a positive INTEGER (RFC 5280 §4.1.2.2) whose minimal DER
 * is exactly 16 bytes.
 */
function randomSerial(): Uint8Array {
  const bytes = new Uint8Array(SERIAL_LENGTH);
  do randomFillSync(bytes);
  while ((bytes[0] as number) % 128 === 0);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes;
}

/** RFC 7468 §2 textual encoding: base64 in lines of 64 characters between the BEGIN and END lines. */
function pem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let body = '';
  for (let at = 0; at < base64.length; at += 64) body += `${base64.slice(at, at + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
