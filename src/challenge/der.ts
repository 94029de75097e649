/**
 * The little DER the challenge core needs: a strict, bounds-checked reader (for certificates a peer may have
 * crafted) and a few encoders (for the two extensions we build ourselves).
 *
 * The reader accepts what Go's `cryptobyte` accepts — the parser behind the CA's TLS client — and nothing looser:
 * single-byte tags only (no high-tag-number form), definite lengths in minimal form, no length beyond the input.
 * Every failure is a {@link DerError}; callers that face hostile input catch it and turn it into a verdict.
 */
import type { Identifier } from './identifier.js';

/** Raised by the reader on malformed input. Internal: never escapes the public functions of this folder. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

/** Universal and context tags used in certificates (identifier octets, class and constructed bit included). */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV: its identifier octet and where its header, content and end lie in the underlying buffer. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the last content byte. */
  readonly end: number;
}

/** A cursor over `bytes[pos, limit)`. */
export class DerReader {
  private pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    private readonly limit = bytes.length,
  ) {
    if (start < 0 || limit > bytes.length || start > limit) throw new DerError('bad reader bounds');
    this.pos = start;
  }

  /** A reader over the content of `tlv`. */
  static over(bytes: Uint8Array, tlv: Tlv): DerReader {
    return new DerReader(bytes, tlv.contentStart, tlv.end);
  }

  get empty(): boolean {
    return this.pos >= this.limit;
  }

  /** Identifier octet of the next element, or undefined at the end. */
  peekTag(): number | undefined {
    return this.empty ? undefined : this.bytes[this.pos];
  }

  /** Reads the next element, whatever its tag. */
  readAny(): Tlv {
    const start = this.pos;
    if (start >= this.limit) throw new DerError('unexpected end of data');
    const tag = this.bytes[start] as number;
    if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form is not supported');
    if (start + 1 >= this.limit) throw new DerError('truncated length');
    const first = this.bytes[start + 1] as number;
    let length: number;
    let contentStart: number;
    if (first < 0x80) {
      length = first;
      contentStart = start + 2;
    } else {
      const count = first & 0x7f;
      if (count === 0) throw new DerError('indefinite length');
      if (count > 4) throw new DerError('length too large');
      if (start + 2 + count > this.limit) throw new DerError('truncated length');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (this.bytes[start + 2 + i] as number);
      if ((this.bytes[start + 2] as number) === 0) throw new DerError('non-minimal length');
      if (length < 0x80) throw new DerError('non-minimal length');
      contentStart = start + 2 + count;
    }
    const end = contentStart + length;
    if (end > this.limit) throw new DerError('length exceeds data');
    this.pos = end;
    return { tag, start, contentStart, end };
  }

  /** Reads the next element and insists on its tag. */
  read(tag: number, what: string): Tlv {
    if (this.peekTag() !== tag) throw new DerError(`malformed ${what}`);
    return this.readAny();
  }

  /** Reads the next element when it has `tag`, else nothing. */
  readOptional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.readAny() : undefined;
  }

  /** Throws unless every byte was used. */
  finish(what: string): void {
    if (!this.empty) throw new DerError(`trailing data after ${what}`);
  }
}

/** Content bytes of `tlv` (a view, not a copy). */
export function content(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.contentStart, tlv.end);
}

/** Whole encoding of `tlv` (a view, not a copy). */
export function raw(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.start, tlv.end);
}

/**
 * Dotted text of an OBJECT IDENTIFIER's content. Like Go's cryptobyte, refuses empty and non-minimal encodings and
 * any arc of 2^31 or more.
 */
export function decodeOid(body: Uint8Array): string {
  if (body.length === 0) throw new DerError('empty OID');
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of body) {
    if (fresh && byte === 0x80) throw new DerError('non-minimal OID arc');
    if (value >= 2 ** 24) throw new DerError('OID arc too large');
    value = value * 128 + (byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new DerError('truncated OID');
  const first = arcs[0] as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Encodes one TLV with a definite, minimal length. */
export function encode(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else if (n < 0x100) header = [tag, 0x81, n];
  else if (n < 0x10000) header = [tag, 0x82, n >> 8, n & 0xff];
  else header = [tag, 0x83, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(body, header.length);
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** GeneralName tags: [2] dNSName and [7] iPAddress, context-specific primitive. */
const DNS_NAME_TAG = 0x82;
const IP_ADDRESS_TAG = 0x87;

/**
 * The extnValue of a subjectAltName naming exactly `identifier` — what the challenge certificate carries and what
 * the CA compares byte for byte: SEQUENCE { [2] name } or SEQUENCE { [7] 4/16 address bytes } (RFC 8738 §6).
 */
export function subjectAltNameValue(identifier: Identifier): Uint8Array {
  const entry =
    identifier.kind === 'dns'
      ? encode(DNS_NAME_TAG, new TextEncoder().encode(identifier.name))
      : encode(IP_ADDRESS_TAG, identifier.bytes);
  return encode(TAG.SEQUENCE, entry);
}

/** The extnValue of the acmeIdentifier extension: the OCTET STRING of the digest (RFC 8737 §3). */
export function acmeIdentifierValue(digest: Uint8Array): Uint8Array {
  return encode(TAG.OCTET_STRING, digest);
}
