/**
 * The little DER the challenge core needs: a strict, bounds-checked reader (for certificates a peer may have
 * crafted) and a few encoders (for the challenge certificate we build ourselves, field by field).
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

/**
 * Encodes one TLV with a definite length in the minimal form DER requires (X.690 §10.1): the short form below 128,
 * else the long form with as few length octets as the length needs, for any length a byte array can have.
 */
export function encode(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const header = [tag];
  if (n < 0x80) header.push(n);
  else {
    const octets: number[] = [];
    // Division, not shifts: bitwise operators would wrap lengths of 2^31 and more.
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
    header.push(0x80 | octets.length, ...octets);
  }
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(body, header.length);
  return out;
}

/**
 * A whole OBJECT IDENTIFIER TLV from its dotted text (X.690 §8.19: the first two arcs folded into one, each arc in
 * base 128, minimal, high bit on all but its last octet).
 *
 * @throws RangeError unless the text is two or more arcs of safe whole numbers, the first 0–2 and, under 0 or 1, the
 *   second below 40
 */
export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((arc) => (/^(?:0|[1-9][0-9]*)$/.test(arc) ? Number(arc) : Number.NaN));
  const [first, second] = arcs as [number, number];
  if (arcs.length < 2 || !arcs.every(Number.isSafeInteger) || first > 2 || (first < 2 && second >= 40)) {
    throw new RangeError(`not an OBJECT IDENTIFIER: ${dotted}`);
  }
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...arcs.slice(2)]) {
    const chunk = [arc % 128];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest % 128));
    out.push(...chunk);
  }
  return encode(TAG.OID, Uint8Array.from(out));
}

/**
 * An INTEGER TLV of the non-negative number whose big-endian magnitude is `magnitude`, in the minimal two's-complement
 * form DER requires (X.690 §8.3.2): leading zero octets dropped, one zero octet added when the top bit is set.
 */
export function encodeUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const digits = magnitude.length === 0 ? Uint8Array.of(0) : magnitude.subarray(start);
  return encode(TAG.INTEGER, ((digits[0] as number) & 0x80) === 0 ? digits : concat(Uint8Array.of(0), digits));
}

/**
 * A certificate validity time, as RFC 5280 §4.1.2.5 wants it: "CAs conforming to this profile MUST always encode
 * certificate validity dates through the year 2049 as UTCTime; certificate validity dates in 2050 or later MUST be
 * encoded as GeneralizedTime." UTCTime (YYMMDDHHMMSSZ, §4.1.2.5.1) covers 1950–2049, GeneralizedTime
 * (YYYYMMDDHHMMSSZ, §4.1.2.5.2) every other year up to 9999 — both in UTC with seconds and no fraction, so the
 * milliseconds of `date` are dropped.
 *
 * @throws RangeError for an invalid date or one outside the years 0–9999
 */
export function encodeTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) throw new RangeError(`no certificate time for ${String(date)}`);
  const two = (n: number): string => String(n).padStart(2, '0');
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  const utc = year >= 1950 && year <= 2049;
  const text = utc ? two(year % 100) + rest : String(year).padStart(4, '0') + rest;
  return encode(utc ? TAG.UTC_TIME : TAG.GENERALIZED_TIME, new TextEncoder().encode(text));
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
