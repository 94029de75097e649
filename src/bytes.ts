/** Small byte helpers shared by the parsers, the challenge code and the stores. */

/** The byte at `i`; callers check bounds first, the fallback only satisfies noUncheckedIndexedAccess. */
export function octet(bytes: Uint8Array, i: number): number {
  return bytes[i] ?? 0;
}

/** `0x1f`-style hex of a number, for parser messages. */
export function hex(value: number, digits = 2): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

/** One character per byte: shows any bytes, printable or not, without decoding errors. */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
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
