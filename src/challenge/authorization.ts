/**
 * The key authorization a hook hands us, in whichever form its ACME client uses, reduced to the one thing the
 * challenge certificate carries: the SHA-256 digest of the key authorization (RFC 8737 §3, the acmeIdentifier
 * extension's value).
 */
import { createHash } from 'node:crypto';
import { toHex } from '../bytes.js';
import { AlpnResponderError, quoteInput } from '../errors.js';

/** Inputs longer than this are refused before any other work (a key authorization is about 87 characters). */
const MAX_AUTHORIZATION_INPUT = 512;

/** Bytes in a SHA-256 digest. */
export const DIGEST_LENGTH = 32;

const COLON_HEX = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){31}$/;
const PLAIN_HEX = /^[0-9a-fA-F]{64}$/;
/** 43 base64url characters encode 32 bytes; the last carries 4 data bits and 2 zero bits. */
const BASE64URL_DIGEST = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]=?$/;
const BASE64URL_ANY_43 = /^[A-Za-z0-9_-]{43}=?$/;
/** token.thumbprint: both parts base64url without padding, the thumbprint a base64url SHA-256 (43 characters). */
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

const FORMS =
  'expected the SHA-256 digest of the key authorization as dehydrated passes it (32 colon-separated hex bytes), ' +
  '64 hex digits or 43 base64url characters, or the key authorization itself (token.thumbprint)';

function bad(message: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_AUTHORIZATION', message);
}

/**
 * Parses a key authorization or its digest into the 32-byte SHA-256 digest.
 *
 * Accepted, told apart by shape alone (their lengths and alphabets never overlap):
 * - dehydrated's `openssl dgst -sha256 -c` output: `ab:cd:…`, 32 bytes, 95 characters, either case;
 * - plain hex: 64 digits, either case;
 * - base64url of the digest (what uacme/ualpn pass): 43 characters, canonical (unused low bits zero). The single
 *   `=` that standard padding adds to 32 bytes is tolerated, so both `…w` and `…w=` are read; any other padding,
 *   and the `+`/`/` alphabet of plain base64, are refused;
 * - the key authorization `token.thumbprint` (RFC 8555 §8.1): hashed with SHA-256 over its ASCII bytes.
 *
 * @throws AlpnResponderError ERR_BAD_AUTHORIZATION for anything else, and for input over 512 characters.
 */
export function parseAuthorization(input: string): Uint8Array {
  if (typeof input !== 'string') throw bad(`the key authorization must be a string; ${FORMS}`);
  if (input.length > MAX_AUTHORIZATION_INPUT) {
    throw bad(`key authorization of ${input.length} characters is too long (at most ${MAX_AUTHORIZATION_INPUT}); ${FORMS}`);
  }
  if (COLON_HEX.test(input)) return hexToBytes(input.replaceAll(':', ''));
  if (PLAIN_HEX.test(input)) return hexToBytes(input);
  if (BASE64URL_DIGEST.test(input)) return base64urlDigest(input);
  if (BASE64URL_ANY_43.test(input)) {
    throw bad(`${quoteInput(input)} is not a canonical base64url encoding of 32 bytes (the last character's two unused bits must be zero)`);
  }
  if (KEY_AUTHORIZATION.test(input)) return new Uint8Array(createHash('sha256').update(input, 'ascii').digest());
  throw bad(`${quoteInput(input)} is not a key authorization: ${mistake(input)}; ${FORMS}`);
}

const HEX_OR_COLON = /[0-9a-fA-F:]/;
const BASE64URL_CHAR = /[A-Za-z0-9_-]/;

/** What is wrong with an input no form accepts: the form it looks closest to, how much it holds, the first bad character. */
function mistake(input: string): string {
  const at = (i: number): string => `${JSON.stringify(input[i])} at position ${i + 1}`;
  if (input.length === 0) return 'it is empty';
  if (input.includes(':')) {
    const what = "it looks like dehydrated's colon-separated digest";
    const badChar = [...input].findIndex((c) => !HEX_OR_COLON.test(c));
    if (badChar >= 0) return `${what}, but ${at(badChar)} is not a hex digit`;
    const bytes = input.split(':');
    const odd = bytes.findIndex((b) => b.length !== 2);
    if (odd >= 0) return `${what}, but byte ${odd + 1} is ${JSON.stringify(bytes[odd])}, not two hex digits`;
    return `${what}, but it has ${bytes.length} bytes; a SHA-256 digest has ${DIGEST_LENGTH}`;
  }
  if (input.includes('.')) {
    const what = 'it looks like a key authorization (token.thumbprint)';
    const dot = input.indexOf('.');
    const badChar = [...input].findIndex((c, i) => i !== dot && !BASE64URL_CHAR.test(c));
    if (badChar >= 0) return `${what}, but ${at(badChar)} is not a base64url character`;
    return `${what}, but the thumbprint after the "." has ${input.length - dot - 1} characters; a base64url SHA-256 has 43`;
  }
  if (/^[0-9a-fA-F]+$/.test(input)) {
    return `it has ${input.length} hex digits (${Math.floor(input.length / 2)} bytes); a SHA-256 digest has 64 (${DIGEST_LENGTH} bytes)`;
  }
  const badChar = [...input].findIndex((c) => !BASE64URL_CHAR.test(c));
  if (badChar >= 0) {
    const c = input[badChar];
    const why = c === '+' || c === '/' ? ' (that is plain base64: base64url writes - for + and _ for /)' : '';
    return `${at(badChar)} is not a base64url character${why}`;
  }
  return `it has ${input.length} base64url characters (${Math.floor((input.length * 6) / 8)} bytes); a SHA-256 digest has 43 (${DIGEST_LENGTH} bytes)`;
}

/** 64 lower-case hex digits of a digest. */
export function digestToHex(digest: Uint8Array): string {
  return toHex(digest);
}

const HEX_DIGEST = new RegExp(`^[0-9a-f]{${DIGEST_LENGTH * 2}}$`);

/** Reads a digest stored as 64 lower-case hex digits (state file, Redis), or undefined for anything else. */
export function digestFromHex(text: unknown): Uint8Array | undefined {
  return typeof text === 'string' && HEX_DIGEST.test(text) ? Uint8Array.from(Buffer.from(text, 'hex')) : undefined;
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function base64urlDigest(text: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text.endsWith('=') ? text.slice(0, -1) : text, 'base64url'));
  if (bytes.length !== DIGEST_LENGTH) throw bad(`${quoteInput(text)} does not decode to 32 bytes`);
  return bytes;
}
