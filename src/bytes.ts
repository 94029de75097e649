/** Small helpers the byte parsers share. */

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
