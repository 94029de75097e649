/**
 * Test helper: certificates built by hand, field by field, so tests can produce what no certificate library
 * will (duplicate extensions, negative serials, mismatched algorithm identifiers, odd encodings), signed with
 * node:crypto keys.
 */
import { generateKeyPairSync, sign, constants, type KeyObject } from 'node:crypto';

export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const n = body.length;
  const header =
    n < 0x80 ? [tag, n] : n < 0x100 ? [tag, 0x81, n] : n < 0x10000 ? [tag, 0x82, n >> 8, n & 0xff] : [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return new Uint8Array(Buffer.concat([Buffer.from(header), body]));
}

export const seq = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, ...parts);
export const set = (...parts: Uint8Array[]): Uint8Array => tlv(0x31, ...parts);
export const octets = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes);
export const NULL = new Uint8Array([0x05, 0x00]);
export const TRUE = new Uint8Array([0x01, 0x01, 0xff]);
export const FALSE = new Uint8Array([0x01, 0x01, 0x00]);

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const values = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const chunk = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift((x & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(out));
}

export function integer(value: number | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) return tlv(0x02, value);
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, new Uint8Array(bytes));
}

export function utf8(text: string): Uint8Array {
  return tlv(0x0c, new TextEncoder().encode(text));
}

/** Name with one CN attribute (UTF8String unless another encoded value is given). */
export function cnName(cn: string | Uint8Array): Uint8Array {
  return seq(set(seq(oid('2.5.4.3'), typeof cn === 'string' ? utf8(cn) : cn)));
}

export const ALG = {
  ecdsaSha256: seq(oid('1.2.840.10045.4.3.2')),
  ecdsaSha384: seq(oid('1.2.840.10045.4.3.3')),
  rsaSha256: seq(oid('1.2.840.113549.1.1.11'), NULL),
  rsaSha1: seq(oid('1.2.840.113549.1.1.5'), NULL),
  ed25519: seq(oid('1.3.101.112')),
  rsaPssSha256: seq(
    oid('1.2.840.113549.1.1.10'),
    seq(
      tlv(0xa0, seq(oid('2.16.840.1.101.3.4.2.1'), NULL)),
      tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), seq(oid('2.16.840.1.101.3.4.2.1'), NULL))),
      tlv(0xa2, integer(32)),
    ),
  ),
} as const;

export const SAN_OID = '2.5.29.17';
export const ACME_OID = '1.3.6.1.5.5.7.1.31';

export function extension(id: string, critical: boolean | 'explicit-false', value: Uint8Array): Uint8Array {
  return seq(oid(id), ...(critical === true ? [TRUE] : critical === 'explicit-false' ? [FALSE] : []), octets(value));
}

export const dnsSan = (...names: string[]): Uint8Array =>
  seq(...names.map((n) => tlv(0x82, new TextEncoder().encode(n))));
export const ipSan = (...addresses: Uint8Array[]): Uint8Array => seq(...addresses.map((a) => tlv(0x87, a)));
export const acmeValue = (digest: Uint8Array): Uint8Array => octets(digest);

export interface Keys {
  readonly privateKey: KeyObject;
  readonly spki: Uint8Array;
  readonly alg: Uint8Array;
  readonly sign: (tbs: Uint8Array) => Uint8Array;
}

export function p256(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey,
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    alg: ALG.ecdsaSha256,
    sign: (tbs) => new Uint8Array(sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })),
  };
}

export function secp256k1(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  return {
    privateKey,
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    alg: ALG.ecdsaSha256,
    sign: (tbs) => new Uint8Array(sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })),
  };
}

export function rsa(mode: 'pkcs1' | 'pss' | 'sha1', modulusLength = 2048): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  if (mode === 'pss') {
    return {
      privateKey,
      spki,
      alg: ALG.rsaPssSha256,
      sign: (tbs) =>
        new Uint8Array(sign('sha256', tbs, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })),
    };
  }
  const hash = mode === 'sha1' ? 'sha1' : 'sha256';
  return {
    privateKey,
    spki,
    alg: mode === 'sha1' ? ALG.rsaSha1 : ALG.rsaSha256,
    sign: (tbs) => new Uint8Array(sign(hash, tbs, privateKey)),
  };
}

export function ed25519(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    alg: ALG.ed25519,
    sign: (tbs) => new Uint8Array(sign(null, tbs, privateKey)),
  };
}

export interface CertificateParts {
  readonly keys: Keys;
  /** Key whose signature goes on the certificate (default: `keys`). */
  readonly signer?: Keys;
  /** Number written in [0] (2 = v3), or the raw element to put inside [0]; null leaves [0] out. */
  readonly version?: number | Uint8Array | null;
  /** Content bytes of the serial INTEGER. */
  readonly serial?: Uint8Array;
  readonly innerAlg?: Uint8Array;
  readonly outerAlg?: Uint8Array;
  readonly issuer?: Uint8Array;
  readonly subject?: Uint8Array;
  readonly validity?: Uint8Array;
  readonly spki?: Uint8Array;
  /** Whole Extension encodings; null leaves [3] out. */
  readonly extensions?: readonly Uint8Array[] | null;
  /** Replaces the signature BIT STRING. */
  readonly signatureBits?: Uint8Array;
}

export const VALIDITY = seq(tlv(0x17, new TextEncoder().encode('250101000000Z')), tlv(0x17, new TextEncoder().encode('491231235959Z')));

export function certificate(parts: CertificateParts): Uint8Array {
  const keys = parts.keys;
  const alg = keys.alg;
  const name = cnName('example.org');
  const tbs = seq(
    ...(parts.version === null
      ? []
      : [tlv(0xa0, parts.version instanceof Uint8Array ? parts.version : integer(parts.version ?? 2))]),
    tlv(0x02, parts.serial ?? new Uint8Array([0x01, 0x02, 0x03])),
    parts.innerAlg ?? alg,
    parts.issuer ?? name,
    parts.validity ?? VALIDITY,
    parts.subject ?? name,
    parts.spki ?? keys.spki,
    ...(parts.extensions === null ? [] : [tlv(0xa3, seq(...(parts.extensions ?? [])))]),
  );
  const signature = (parts.signer ?? keys).sign(tbs);
  return seq(tbs, parts.outerAlg ?? alg, parts.signatureBits ?? tlv(0x03, new Uint8Array([0]), signature));
}
