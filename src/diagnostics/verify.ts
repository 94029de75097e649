/**
 * What the CA checks in the certificate a TLS-ALPN-01 responder serves, as a pure function.
 *
 * Modelled on Let's Encrypt's Boulder VA (va/tlsalpn.go, validateTLSALPN01) and on the Go TLS client it runs
 * behind. Two stages, in the CA's order:
 *
 * 1. `tls` — Go's `crypto/x509` parser, which the TLS client runs on the peer's certificate during the handshake.
 *    What it refuses (malformed DER, negative serial, mismatched signature algorithms, duplicate extensions since
 *    Go 1.19, a subjectAltName it cannot parse, …) aborts the handshake, and Boulder reports the bare
 *    "Error getting validation data" (problem type `connection`, prefixed with the address by the VA). `detail`
 *    says what the parser would have objected to.
 * 2. `certificate` — Boulder's own checks on the parsed certificate, each with its exact wording: self-signed
 *    (signature verifies with its own key and issuer bytes equal subject bytes); subjectAltName and acmeIdentifier
 *    both present; the subjectAltName is exactly the identifier, byte for byte; acmeIdentifier critical, an OCTET
 *    STRING of 32 bytes, equal to the expected digest. Boulder wraps these as "Incorrect validation certificate for
 *    tls-alpn-01 challenge. Requested X from Y. <problem>" (type `unauthorized`), see {@link caProblemDetail}.
 *
 * Nothing here throws on hostile input: every malformation becomes a verdict.
 *
 * Fidelity: written from Go's crypto/x509 and Boulder's sources and tested here on generated and mutated
 * certificates (test/diagnostics/verify.test.ts, test/fuzz.test.ts); no differential harness against Go itself is
 * part of this repository. Where Go versions differ this follows current Go: negative serials refused (1.23),
 * non-minimal OID arcs refused, RSA keys under 1024 bits never verify (1.24). Not modelled: decoding of
 * nameConstraints, URL parsing of URI names, DSA and X25519 keys (whose certificates never verify anyway), and
 * anything the TLS handshake itself checks (signature schemes, versions).
 */
import { createPublicKey, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';
import { bytesEqual, toHex } from '../bytes.js';
import { ACME_IDENTIFIER_OID } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import { DIGEST_LENGTH } from '../challenge/authorization.js';
import {
  DerError,
  DerReader,
  TAG,
  concat,
  content,
  decodeOid,
  encode,
  raw,
  subjectAltNameValue,
  type Tlv,
} from '../challenge/der.js';
import { formatIdentifier, type Identifier } from '../challenge/identifier.js';
import { formatIpAddress } from '../ip-address.js';

/** The CA's verdict on a challenge certificate. */
export type CertificateCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** What Let's Encrypt reports, without the "Requested X from Y" / address prefix a network caller adds. */
      readonly problem: string;
      /** `tls`: Go's TLS client would refuse the certificate; `certificate`: Boulder's own checks refuse it. */
      readonly stage: 'tls' | 'certificate';
      /** For `tls`, what Go's parser objects to (the CA does not show this). */
      readonly detail?: string;
    };

/** Boulder's problem texts (va/tlsalpn.go), and the one its TLS client failures come out as (va/va.go). */
export const CA_PROBLEMS = {
  connection: 'Error getting validation data',
  notSelfSigned: 'Received certificate which is not self-signed.',
  notCritical: 'Received certificate with acmeValidationV1 extension that is not Critical.',
  malformedValue: 'Received certificate with malformed acmeValidationV1 extension value.',
  missingAcmeIdentifier: 'Received certificate with no acmeValidationV1 extension.',
  unexpectedExtensions: (error: string): string => `Received certificate with unexpected extensions: ${goQuote(error)}`,
  unexpectedIdentifiers: (names: string, error: string): string =>
    `Received certificate with unexpected identifiers (${goQuote(names)}): ${goQuote(error)}`,
  wrongValue: (got: string, expected: string): string =>
    `Received certificate with acmeValidationV1 extension value ${got} but expected ${expected}.`,
} as const;

const SUBJECT_ALT_NAME_OID = '2.5.29.17';
const COMMON_NAME_OID = '2.5.4.3';
const CHALLENGE_TYPE = 'tls-alpn-01';

/**
 * Checks a challenge certificate the way the CA does once the TLS handshake is done.
 *
 * @param der the leaf certificate the responder serves
 * @param expected the identifier being validated
 * @param expectedDigest SHA-256 of the key authorization; when absent the acmeIdentifier value is only checked for
 *   shape (critical, OCTET STRING of 32 bytes)
 */
export async function checkChallengeCertificate(
  der: Uint8Array,
  expected: Identifier,
  expectedDigest?: Uint8Array,
): Promise<CertificateCheck> {
  if (expectedDigest !== undefined && expectedDigest.length !== DIGEST_LENGTH) {
    throw new AlpnResponderError('ERR_BAD_AUTHORIZATION', `the expected digest must be ${DIGEST_LENGTH} bytes`);
  }
  let cert: ParsedCertificate;
  try {
    if (!(der instanceof Uint8Array)) throw new DerError('malformed certificate');
    cert = parseCertificate(der);
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    return {
      ok: false,
      stage: 'tls',
      problem: CA_PROBLEMS.connection,
      detail: `tls: failed to parse certificate from server: x509: ${error.message}`,
    };
  }
  const refuse = (problem: string): CertificateCheck => ({ ok: false, stage: 'certificate', problem });

  // The certificate must be self-signed.
  if (!bytesEqual(cert.issuer, cert.subject) || !verifySelfSignature(cert)) return refuse(CA_PROBLEMS.notSelfSigned);

  // Both extensions present (duplicates never get this far: Go's parser refuses them).
  for (const required of [ACME_IDENTIFIER_OID, SUBJECT_ALT_NAME_OID]) {
    if (!cert.extensions.some((e) => e.oid === required)) {
      return refuse(CA_PROBLEMS.unexpectedExtensions(`Required extension OID ${required} is not present`));
    }
  }

  const sanError = checkExpectedSan(cert, expected);
  if (sanError !== undefined) return refuse(CA_PROBLEMS.unexpectedIdentifiers(altNames(cert).join(', '), sanError));

  const acme = cert.extensions.find((e) => e.oid === ACME_IDENTIFIER_OID);
  if (acme === undefined) return refuse(CA_PROBLEMS.missingAcmeIdentifier);
  if (!acme.critical) return refuse(CA_PROBLEMS.notCritical);
  const value = octetStringValue(acme.value);
  if (value === undefined || value.length !== DIGEST_LENGTH) return refuse(CA_PROBLEMS.malformedValue);
  if (expectedDigest !== undefined && !bytesEqual(value, expectedDigest)) {
    return refuse(CA_PROBLEMS.wrongValue(toHex(value), toHex(expectedDigest)));
  }
  return { ok: true };
}

/**
 * The full detail text Let's Encrypt would show for a failed check, given the address and port it connected to.
 * `address` is the IP text the CA used (`192.0.2.1`, `2001:db8::1`).
 */
export function caProblemDetail(
  check: Extract<CertificateCheck, { ok: false }>,
  identifier: Identifier,
  address: string,
  port = 443,
): string {
  if (check.stage === 'tls') return `${address}: ${check.problem}`;
  const hostPort = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return (
    `Incorrect validation certificate for ${CHALLENGE_TYPE} challenge. ` +
    `Requested ${formatIdentifier(identifier)} from ${hostPort}. ${check.problem}`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Boulder's SAN check (checkExpectedSAN)

function checkExpectedSan(cert: ParsedCertificate, expected: Identifier): string | undefined {
  if (expected.kind === 'dns') {
    if (cert.dnsNames.length !== 1 || cert.ipAddresses.length !== 0) return 'wrong number of identifiers';
    if (!asciiEqualFold(cert.dnsNames[0] as string, expected.name)) {
      return 'identifier does not match expected identifier';
    }
  } else {
    if (cert.ipAddresses.length !== 1 || cert.dnsNames.length !== 0) return 'wrong number of identifiers';
    if (!ipEqual(cert.ipAddresses[0] as Uint8Array, expected.bytes)) {
      return 'identifier does not match expected identifier';
    }
  }
  const want = subjectAltNameValue(expected);
  for (const ext of cert.extensions) {
    if (ext.oid === SUBJECT_ALT_NAME_OID && !bytesEqual(ext.value, want)) {
      return 'SAN extension does not match expected bytes';
    }
  }
  return undefined;
}

function asciiEqualFold(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

/** Go's net.IP.Equal: a 4-byte address equals its 16-byte IPv4-mapped form. */
function ipEqual(a: Uint8Array, b: Uint8Array): boolean {
  return bytesEqual(to16(a), to16(b));
}

function to16(ip: Uint8Array): Uint8Array {
  if (ip.length !== 4) return ip;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ip, 12);
  return out;
}

/** Boulder's certAltNames: CN, dNSNames, emails, IPs, URIs — lower-cased, unique, sorted. */
function altNames(cert: ParsedCertificate): string[] {
  const names: string[] = [];
  if (cert.commonName !== '') names.push(cert.commonName);
  names.push(...cert.dnsNames, ...cert.emails, ...cert.ipAddresses.map(goIpString), ...cert.uris);
  const encoder = new TextEncoder();
  return [...new Set(names.map((n) => n.toLowerCase()))].sort((x, y) =>
    Buffer.compare(encoder.encode(x), encoder.encode(y)),
  );
}

/** Go's net.IP.String: IPv4 and IPv4-mapped addresses as a dotted quad, other IPv6 per RFC 5952. */
function goIpString(ip: Uint8Array): string {
  const isMapped =
    ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
  return formatIpAddress(isMapped ? ip.subarray(12) : ip);
}

/** Go's strconv.Quote (what `%q` prints), for the strings Boulder quotes. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp === 0x20 || (cp > 0x20 && cp !== 0x7f && /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch))) out += ch;
    else if (cp === 0x07) out += '\\a';
    else if (cp === 0x08) out += '\\b';
    else if (cp === 0x0c) out += '\\f';
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x0d) out += '\\r';
    else if (cp === 0x09) out += '\\t';
    else if (cp === 0x0b) out += '\\v';
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** The content of a DER OCTET STRING filling `bytes` exactly (Go's asn1.Unmarshal into []byte, no rest). */
function octetStringValue(bytes: Uint8Array): Uint8Array | undefined {
  try {
    const reader = new DerReader(bytes);
    const tlv = reader.read(TAG.OCTET_STRING, 'OCTET STRING');
    if (!reader.empty) return undefined;
    return content(bytes, tlv);
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Self-signature (Go's Certificate.CheckSignature with the certificate's own key)

type SignatureScheme =
  | { readonly family: 'rsa'; readonly hash: string }
  | { readonly family: 'rsa-pss'; readonly hash: string; readonly saltLength: number }
  | { readonly family: 'ecdsa'; readonly hash: string }
  | { readonly family: 'ed25519' };

/** Signature algorithms Go accepts for CheckSignature (SHA-1 and MD5 ones are refused as insecure). */
const SIGNATURE_SCHEMES: Readonly<Record<string, SignatureScheme>> = {
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'sha512' },
  '1.2.840.10045.4.3.2': { family: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { family: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { family: 'ecdsa', hash: 'sha512' },
  '1.3.101.112': { family: 'ed25519' },
};
const RSA_PSS_OID = '1.2.840.113549.1.1.10';
const MGF1_OID = '1.2.840.113549.1.1.8';
const PSS_HASHES: Readonly<Record<string, { hash: string; length: number }>> = {
  '2.16.840.1.101.3.4.2.1': { hash: 'sha256', length: 32 },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', length: 48 },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', length: 64 },
};
const KEY_TYPE_FOR: Readonly<Record<SignatureScheme['family'], string>> = {
  rsa: 'rsa',
  'rsa-pss': 'rsa',
  ecdsa: 'ec',
  ed25519: 'ed25519',
};

function verifySelfSignature(cert: ParsedCertificate): boolean {
  const scheme = signatureScheme(cert.signatureAlgorithm);
  if (scheme === undefined || cert.publicKey === undefined) return false;
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== KEY_TYPE_FOR[scheme.family]) return false;
  // Go (1.24+) refuses RSA keys under 1024 bits when verifying.
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 1024) return false;
  try {
    switch (scheme.family) {
      case 'rsa':
        return cryptoVerify(scheme.hash, cert.tbs, key, cert.signature);
      case 'rsa-pss':
        return cryptoVerify(
          scheme.hash,
          cert.tbs,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength },
          cert.signature,
        );
      case 'ecdsa':
        return cryptoVerify(scheme.hash, cert.tbs, { key, dsaEncoding: 'der' }, cert.signature);
      case 'ed25519':
        return cryptoVerify(null, cert.tbs, key, cert.signature);
    }
  } catch {
    return false;
  }
}

/** Go's getSignatureAlgorithmFromAI. */
function signatureScheme(ai: AlgorithmIdentifier): SignatureScheme | undefined {
  if (ai.oid === '1.3.101.112' && ai.params !== undefined) return undefined;
  if (ai.oid !== RSA_PSS_OID) return SIGNATURE_SCHEMES[ai.oid];
  if (ai.params === undefined) return undefined;
  try {
    const params = ai.params;
    const r = new DerReader(params);
    const seq = DerReader.over(params, r.read(TAG.SEQUENCE, 'PSS parameters'));
    r.finish('PSS parameters');
    const explicitAi = (tlv: Tlv): AlgorithmIdentifier => {
      const wrapper = DerReader.over(params, tlv);
      const ai = parseAlgorithmIdentifier(params, DerReader.over(params, wrapper.read(TAG.SEQUENCE, 'algorithm')));
      wrapper.finish('algorithm');
      return ai;
    };
    const hashAi = explicitAi(seq.read(0xa0, 'PSS hash'));
    const mgf = explicitAi(seq.read(0xa1, 'PSS MGF'));
    const saltTlv = seq.readOptional(0xa2);
    const salt = saltTlv === undefined ? 20 : readSmallInteger(params, DerReader.over(params, saltTlv));
    const trailerTlv = seq.readOptional(0xa3);
    const trailer = trailerTlv === undefined ? 1 : readSmallInteger(params, DerReader.over(params, trailerTlv));
    if (mgf.oid !== MGF1_OID || mgf.params === undefined || trailer !== 1 || !nullOrAbsent(hashAi.params)) {
      return undefined;
    }
    const mgfParams = mgf.params;
    const mgfReader = new DerReader(mgfParams);
    const mgfHash = parseAlgorithmIdentifier(mgfParams, DerReader.over(mgfParams, mgfReader.read(TAG.SEQUENCE, 'MGF1 hash')));
    if (mgfHash.oid !== hashAi.oid || !nullOrAbsent(mgfHash.params)) return undefined;
    const hash = PSS_HASHES[hashAi.oid];
    if (hash === undefined || salt !== hash.length) return undefined;
    return { family: 'rsa-pss', hash: hash.hash, saltLength: salt };
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

function nullOrAbsent(params: Uint8Array | undefined): boolean {
  return params === undefined || (params.length === 2 && params[0] === TAG.NULL && params[1] === 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate parsing, as strict as Go's crypto/x509 parseCertificate where it matters here

interface AlgorithmIdentifier {
  readonly oid: string;
  /** Whole encoding of the parameters element, if any. */
  readonly params?: Uint8Array;
}

interface ParsedExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** Content of the extnValue OCTET STRING. */
  readonly value: Uint8Array;
}

interface ParsedCertificate {
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  /** The signature BIT STRING's bits, right-aligned as Go does. */
  readonly signature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly commonName: string;
  /** Undefined for key algorithms Go does not know (its CheckSignature then fails). */
  readonly publicKey: KeyObject | undefined;
  readonly extensions: readonly ParsedExtension[];
  readonly dnsNames: readonly string[];
  readonly emails: readonly string[];
  readonly ipAddresses: readonly Uint8Array[];
  readonly uris: readonly string[];
}

const RSA_KEY_OID = '1.2.840.113549.1.1.1';
const EC_KEY_OID = '1.2.840.10045.2.1';
const ED25519_KEY_OID = '1.3.101.112';
/** Curves Go's x509 parser knows — P-224, P-256, P-384, P-521 — with their coordinate sizes in bytes. */
const GO_CURVES = new Map([
  ['1.3.132.0.33', 28],
  ['1.2.840.10045.3.1.7', 32],
  ['1.3.132.0.34', 48],
  ['1.3.132.0.35', 66],
]);

function parseCertificate(der: Uint8Array): ParsedCertificate {
  const outer = new DerReader(der);
  const certTlv = outer.read(TAG.SEQUENCE, 'certificate');
  outer.finish('certificate');
  const cert = DerReader.over(der, certTlv);
  const tbsTlv = cert.read(TAG.SEQUENCE, 'tbs certificate');
  const tbs = DerReader.over(der, tbsTlv);

  let version = 1;
  const versionTlv = tbs.readOptional(0xa0);
  if (versionTlv !== undefined) {
    const v = readSmallInteger(der, DerReader.over(der, versionTlv), 'version');
    if (v < 0) throw new DerError('malformed version');
    version = v + 1;
    if (version > 3) throw new DerError('invalid version');
  }
  const serial = content(der, tbs.read(TAG.INTEGER, 'serial number'));
  checkInteger(serial, 'serial number');
  if (((serial[0] as number) & 0x80) !== 0) throw new DerError('negative serial number');

  const innerAi = tbs.read(TAG.SEQUENCE, 'signature algorithm identifier');
  const outerAi = cert.read(TAG.SEQUENCE, 'algorithm identifier');
  if (!bytesEqual(raw(der, innerAi), raw(der, outerAi))) {
    throw new DerError("inner and outer signature algorithm identifiers don't match");
  }
  const signatureAlgorithm = parseAlgorithmIdentifier(der, DerReader.over(der, outerAi));

  const issuerTlv = tbs.read(TAG.SEQUENCE, 'issuer');
  parseName(der, issuerTlv);
  const validity = DerReader.over(der, tbs.read(TAG.SEQUENCE, 'validity'));
  readTime(der, validity);
  readTime(der, validity);
  const subjectTlv = tbs.read(TAG.SEQUENCE, 'subject');
  const commonName = parseName(der, subjectTlv);
  const publicKey = parsePublicKey(der, tbs.read(TAG.SEQUENCE, 'spki'));

  const extensions: ParsedExtension[] = [];
  const names = { dnsNames: [] as string[], emails: [] as string[], ipAddresses: [] as Uint8Array[], uris: [] as string[] };
  if (version > 1) {
    tbs.readOptional(0x81); // issuerUniqueID
    tbs.readOptional(0x82); // subjectUniqueID
    const extTlv = version === 3 ? tbs.readOptional(0xa3) : undefined;
    if (extTlv !== undefined) {
      const wrapper = DerReader.over(der, extTlv);
      const list = DerReader.over(der, wrapper.read(TAG.SEQUENCE, 'extensions'));
      const seen = new Set<string>();
      while (!list.empty) {
        const ext = DerReader.over(der, list.read(TAG.SEQUENCE, 'extension'));
        const oid = decodeOid(content(der, ext.read(TAG.OID, 'extension OID field')));
        let critical = false;
        const criticalTlv = ext.readOptional(TAG.BOOLEAN);
        if (criticalTlv !== undefined) {
          const b = content(der, criticalTlv);
          if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new DerError('malformed extension critical field');
          critical = b[0] === 0xff;
        }
        const value = content(der, ext.read(TAG.OCTET_STRING, 'extension value field'));
        if (seen.has(oid)) throw new DerError(`certificate contains duplicate extensions (OID ${oid})`);
        seen.add(oid);
        extensions.push({ oid, critical, value });
      }
      // Go's processExtensions, once every extension was read (so a duplicate is reported first).
      for (const extension of extensions) processExtension(extension, names);
    }
  }

  const signature = bitStringBytes(content(der, cert.read(TAG.BIT_STRING, 'signature')), 'signature');
  return {
    tbs: raw(der, tbsTlv),
    signatureAlgorithm,
    signature,
    issuer: raw(der, issuerTlv),
    subject: raw(der, subjectTlv),
    commonName,
    publicKey,
    extensions,
    ...names,
  };
}

/** A minimal DER INTEGER (cryptobyte's checkASN1Integer). */
function checkInteger(body: Uint8Array, what: string): void {
  if (body.length === 0) throw new DerError(`malformed ${what}`);
  if (body.length > 1) {
    const [a, b] = body as unknown as [number, number];
    if ((a === 0 && b < 0x80) || (a === 0xff && b >= 0x80)) throw new DerError(`malformed ${what}`);
  }
}

/** The INTEGER that is the reader's whole content, as a small number. */
function readSmallInteger(bytes: Uint8Array, reader: DerReader, what = 'integer'): number {
  const body = content(bytes, reader.read(TAG.INTEGER, what));
  reader.finish(what);
  checkInteger(body, what);
  if (body.length > 4) throw new DerError(`malformed ${what}`);
  const unsigned = body.reduce((value, b) => value * 256 + b, 0);
  return ((body[0] as number) & 0x80) !== 0 ? unsigned - 2 ** (8 * body.length) : unsigned;
}

/** An AlgorithmIdentifier's fields, from a reader over the SEQUENCE's content. */
function parseAlgorithmIdentifier(bytes: Uint8Array, reader: DerReader): AlgorithmIdentifier {
  const oid = decodeOid(content(bytes, reader.read(TAG.OID, 'OID')));
  if (reader.empty) return { oid };
  return { oid, params: raw(bytes, reader.readAny()) };
}

/**
 * Go's cryptobyte time readers: what `time.Parse` accepts with the layouts `060102150405Z0700` (or, as a fallback,
 * `0601021504Z0700`) for UTCTime and `20060102150405Z0700` for GeneralizedTime, and that formats back to the very
 * same text (so no `+0000`, no fractions of a second).
 */
function readTime(bytes: Uint8Array, reader: DerReader): void {
  const tag = reader.peekTag();
  if (tag !== TAG.UTC_TIME && tag !== TAG.GENERALIZED_TIME) throw new DerError('unsupported time format');
  const text = new TextDecoder('latin1').decode(content(bytes, reader.readAny()));
  const utc = tag === TAG.UTC_TIME;
  const match = utc
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})$/.exec(text)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|[+-]\d{4})$/.exec(text);
  if (match === null || !validTime(match, utc)) throw new DerError(utc ? 'malformed UTCTime' : 'malformed GeneralizedTime');
}

function validTime(match: RegExpExecArray, utc: boolean): boolean {
  const [yy, mm, dd, hh, mi, ss, zone] = match.slice(1) as [string, string, string, string, string, string | undefined, string];
  const year = utc ? (Number(yy) >= 50 ? 1900 : 2000) + Number(yy) : Number(yy);
  const month = Number(mm);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (days === undefined || Number(dd) < 1 || Number(dd) > days) return false;
  if (Number(hh) > 23 || Number(mi) > 59 || (ss !== undefined && Number(ss) > 59)) return false;
  if (zone === 'Z') return true;
  const offsetHours = Number(zone.slice(1, 3));
  const offsetMinutes = Number(zone.slice(3));
  return offsetHours <= 23 && offsetMinutes <= 59 && offsetHours + offsetMinutes > 0;
}

/** Walks an RDNSequence as Go's parseName does; returns the (last) common name, or ''. */
function parseName(bytes: Uint8Array, nameTlv: Tlv): string {
  let commonName = '';
  const rdns = DerReader.over(bytes, nameTlv);
  while (!rdns.empty) {
    const set = DerReader.over(bytes, rdns.read(TAG.SET, 'RDNSequence'));
    while (!set.empty) {
      const atv = DerReader.over(bytes, set.read(TAG.SEQUENCE, 'RDNSequence attribute'));
      const type = decodeOid(content(bytes, atv.read(TAG.OID, 'RDNSequence attribute type')));
      const valueTlv = atv.readAny();
      const value = decodeDirectoryString(valueTlv.tag, content(bytes, valueTlv));
      if (type === COMMON_NAME_OID) commonName = value;
    }
  }
  return commonName;
}

/** Go's parseASN1String. */
function decodeDirectoryString(tag: number, body: Uint8Array): string {
  const fail = (why: string): never => {
    throw new DerError(`invalid RDNSequence: invalid attribute value: ${why}`);
  };
  switch (tag) {
    case TAG.T61_STRING:
      // Go keeps the raw bytes (and %q then escapes the non-ASCII ones); Latin-1 is the readable approximation.
      return new TextDecoder('latin1').decode(body);
    case TAG.PRINTABLE_STRING:
      for (const b of body) {
        const ok =
          (b >= 0x61 && b <= 0x7a) ||
          (b >= 0x41 && b <= 0x5a) ||
          (b >= 0x30 && b <= 0x39) ||
          " '()+,-./:=?*&".includes(String.fromCharCode(b));
        if (!ok) fail('invalid PrintableString');
      }
      return new TextDecoder('latin1').decode(body);
    case TAG.UTF8_STRING:
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(body);
      } catch {
        return fail('invalid UTF-8 string');
      }
    case TAG.BMP_STRING: {
      if (body.length % 2 !== 0) fail('invalid BMPString');
      const trimmed =
        body.length >= 2 && body[body.length - 1] === 0 && body[body.length - 2] === 0 ? body.subarray(0, -2) : body;
      return new TextDecoder('utf-16be').decode(trimmed);
    }
    case TAG.IA5_STRING:
      if (!body.every((b) => b < 0x80)) fail('invalid IA5String');
      return new TextDecoder('latin1').decode(body);
    case TAG.NUMERIC_STRING:
      if (!body.every((b) => (b >= 0x30 && b <= 0x39) || b === 0x20)) fail('invalid NumericString');
      return new TextDecoder('latin1').decode(body);
    default:
      return fail(`unsupported string type: ${tag}`);
  }
}

/** Go's parsePublicKey for the algorithms it knows (its checks, its messages); undefined for the ones it does not. */
function parsePublicKey(bytes: Uint8Array, spkiTlv: Tlv): KeyObject | undefined {
  const spki = DerReader.over(bytes, spkiTlv);
  const aiTlv = spki.read(TAG.SEQUENCE, 'public key algorithm identifier');
  const ai = parseAlgorithmIdentifier(bytes, DerReader.over(bytes, aiTlv));
  const key = bitStringBytes(content(bytes, spki.read(TAG.BIT_STRING, 'subjectPublicKey')), 'subjectPublicKey');
  const load = (algorithm: Uint8Array): KeyObject | undefined => {
    const der = encode(TAG.SEQUENCE, concat(algorithm, encode(TAG.BIT_STRING, concat(Uint8Array.of(0), key))));
    try {
      return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    } catch {
      return undefined;
    }
  };
  switch (ai.oid) {
    case RSA_KEY_OID: {
      if (!nullParams(ai.params)) throw new DerError('RSA key missing NULL parameters');
      const fields = DerReader.over(key, orFail(() => new DerReader(key).read(TAG.SEQUENCE, 'key'), 'invalid RSA public key'));
      const n = orFail(() => integerBody(key, fields.read(TAG.INTEGER, 'modulus')), 'invalid RSA modulus');
      const e = orFail(() => integerBody(key, fields.read(TAG.INTEGER, 'exponent')), 'invalid RSA public exponent');
      if (e.length > 8) throw new DerError('invalid RSA public exponent');
      if (!isPositive(n)) throw new DerError('RSA modulus is not a positive number');
      if (!isPositive(e)) throw new DerError('RSA public exponent is not a positive number');
      // Go holds a key now; if OpenSSL will not take it, Go's signature check would not pass either.
      return load(raw(bytes, aiTlv));
    }
    case EC_KEY_OID: {
      const params = ai.params ?? new Uint8Array();
      const curveTlv = orFail(() => new DerReader(params).read(TAG.OID, 'curve'), 'invalid ECDSA parameters');
      const coordinate = GO_CURVES.get(decodeOid(content(params, curveTlv)));
      if (coordinate === undefined) throw new DerError('unsupported elliptic curve');
      const algorithmOid = raw(bytes, DerReader.over(bytes, aiTlv).read(TAG.OID, 'algorithm'));
      const loaded =
        key.length === 1 + 2 * coordinate && key[0] === 0x04
          ? load(encode(TAG.SEQUENCE, concat(algorithmOid, raw(params, curveTlv))))
          : undefined;
      if (loaded === undefined) throw new DerError('failed to unmarshal elliptic curve point');
      return loaded;
    }
    case ED25519_KEY_OID:
      if (ai.params !== undefined) throw new DerError('Ed25519 key encoded with illegal parameters');
      if (key.length !== 32) throw new DerError('wrong Ed25519 public key size');
      return load(raw(bytes, aiTlv));
    default:
      return undefined;
  }
}

function nullParams(params: Uint8Array | undefined): boolean {
  return params !== undefined && params.length === 2 && params[0] === TAG.NULL && params[1] === 0;
}

/** Runs `read`, turning any DER failure into `message`. */
function orFail<T>(read: () => T, message: string): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof DerError) throw new DerError(message);
    throw error;
  }
}

/** Content of a minimal INTEGER. */
function integerBody(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  const body = content(bytes, tlv);
  checkInteger(body, 'integer');
  return body;
}

/** A minimal INTEGER's content denotes a number above zero. */
function isPositive(body: Uint8Array): boolean {
  return ((body[0] as number) & 0x80) === 0 && !(body.length === 1 && body[0] === 0);
}

/** Go's ReadASN1BitString followed by RightAlign: the bits as bytes, or a DerError naming `what`. */
function bitStringBytes(bits: Uint8Array, what: string): Uint8Array {
  const unused = bits[0];
  if (unused === undefined || unused > 7 || (bits.length === 1 && unused !== 0)) throw new DerError(`malformed ${what}`);
  const data = bits.subarray(1);
  if (unused === 0) return data;
  if (((data[data.length - 1] as number) & ((1 << unused) - 1)) !== 0) throw new DerError(`malformed ${what}`);
  const out = new Uint8Array(data.length);
  out[0] = (data[0] as number) >> unused;
  for (let i = 1; i < data.length; i++) out[i] = (((data[i - 1] as number) << (8 - unused)) | ((data[i] as number) >> unused)) & 0xff;
  return out;
}

/**
 * The extensions Go's processExtensions decodes, with its checks and messages; it ignores all others. Name
 * constraints (2.5.29.30) are not decoded here, nor are the URIs of a subjectAltName parsed as URLs.
 */
function processExtension(
  extension: ParsedExtension,
  names: { dnsNames: string[]; emails: string[]; ipAddresses: Uint8Array[]; uris: string[] },
): void {
  const value = extension.value;
  const check = (message: string, read: (reader: DerReader) => void): void => orFail(() => read(new DerReader(value)), message);
  switch (extension.oid) {
    case '2.5.29.15': // keyUsage
      return check('invalid key usage', (r) => void bitStringBytes(content(value, r.read(TAG.BIT_STRING, 'key usage')), 'key usage'));
    case '2.5.29.19': // basicConstraints
      return processBasicConstraints(value);
    case SUBJECT_ALT_NAME_OID:
      return parseSubjectAltName(value, names);
    case '2.5.29.31': // cRLDistributionPoints
      return check('invalid CRL distribution points', (r) => {
        const points = DerReader.over(value, r.read(TAG.SEQUENCE, 'points'));
        while (!points.empty) {
          const point = DerReader.over(value, points.read(TAG.SEQUENCE, 'point'));
          const nameTlv = point.readOptional(0xa0);
          if (nameTlv === undefined) continue;
          const full = DerReader.over(value, DerReader.over(value, nameTlv).read(0xa0, 'full name'));
          while (full.peekTag() === 0x86) full.readAny();
        }
      });
    case '2.5.29.35': // authorityKeyIdentifier
      return check('invalid authority key identifier', (r) => {
        const aki = DerReader.over(value, r.read(TAG.SEQUENCE, 'aki'));
        if (aki.peekTag() === 0x80) aki.readAny();
      });
    case '2.5.29.37': // extKeyUsage
      return check('invalid extended key usages', (r) => {
        const usages = DerReader.over(value, r.read(TAG.SEQUENCE, 'usages'));
        while (!usages.empty) decodeOid(content(value, usages.read(TAG.OID, 'usage')));
      });
    case '2.5.29.14': // subjectKeyIdentifier
      return check('invalid subject key identifier', (r) => void r.read(TAG.OCTET_STRING, 'ski'));
    case '2.5.29.32': // certificatePolicies
      return check('invalid certificate policies', (r) => {
        const policies = DerReader.over(value, r.read(TAG.SEQUENCE, 'policies'));
        while (!policies.empty) {
          const policy = DerReader.over(value, policies.read(TAG.SEQUENCE, 'policy'));
          decodeOid(content(value, policy.read(TAG.OID, 'policy')));
        }
      });
    case '1.3.6.1.5.5.7.1.1': // authorityInfoAccess
      return check('invalid authority info access', (r) => {
        const list = DerReader.over(value, r.read(TAG.SEQUENCE, 'aia'));
        while (!list.empty) {
          const access = DerReader.over(value, list.read(TAG.SEQUENCE, 'access'));
          decodeOid(content(value, access.read(TAG.OID, 'method')));
          if (access.peekTag() === 0x86) access.readAny();
        }
      });
    default:
      return;
  }
}

/** Go's parseBasicConstraintsExtension, with its three messages. */
function processBasicConstraints(value: Uint8Array): void {
  let constraints: DerReader;
  try {
    constraints = DerReader.over(value, new DerReader(value).read(TAG.SEQUENCE, 'basic constraints'));
  } catch {
    throw new DerError('invalid basic constraints a');
  }
  if (constraints.peekTag() === TAG.BOOLEAN) {
    const b = content(value, orFail(() => constraints.readAny(), 'invalid basic constraints b'));
    if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new DerError('invalid basic constraints b');
  }
  if (constraints.peekTag() === TAG.INTEGER) {
    orFail(() => {
      const body = integerBody(value, constraints.readAny());
      if (body.length > 8) throw new DerError('too large');
    }, 'invalid basic constraints c');
  }
}

/** Go's parseSANExtension: dNSName, rfc822Name and URI must be ASCII, iPAddress 4 or 16 bytes; others ignored. */
function parseSubjectAltName(
  value: Uint8Array,
  names: { dnsNames: string[]; emails: string[]; ipAddresses: Uint8Array[]; uris: string[] },
): void {
  const outer = new DerReader(value);
  const list = DerReader.over(value, outer.read(TAG.SEQUENCE, 'subject alternative names'));
  while (!list.empty) {
    const entry = list.readAny();
    const body = content(value, entry);
    const ascii = (): string => {
      if (!body.every((b) => b < 0x80)) throw new DerError(`SAN ${SAN_KIND[entry.tag]} is malformed`);
      return new TextDecoder('latin1').decode(body);
    };
    switch (entry.tag) {
      case 0x81:
        names.emails.push(ascii());
        break;
      case 0x82:
        names.dnsNames.push(ascii());
        break;
      case 0x86:
        names.uris.push(ascii());
        break;
      case 0x87:
        if (body.length !== 4 && body.length !== 16) {
          throw new DerError(`cannot parse IP address of length ${body.length}`);
        }
        names.ipAddresses.push(body);
        break;
      default:
        break;
    }
  }
}

const SAN_KIND: Readonly<Record<number, string>> = { 0x81: 'rfc822Name', 0x82: 'dNSName', 0x86: 'uniformResourceIdentifier' };
