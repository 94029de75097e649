/**
 * The one TLS message the daemon writes itself: a fatal alert that refuses a ClientHello before any TLS library is
 * involved.
 */

/**
 * Alert descriptions used to refuse a hello (RFC 8446 §6, RFC 7301 §3.2, RFC 6066 §3).
 *
 * - `no_application_protocol`: RFC 7301 §3.2, the client offered ALPN but none we serve (no `acme-tls/1`).
 * - `unrecognized_name`: RFC 6066 §3, the SNI names nothing we answer for.
 * - `handshake_failure`: nothing more precise applies, such as a hello with no ALPN extension at all.
 * - `protocol_version`, `decode_error`, `internal_error`: RFC 8446 §6.2 meanings.
 */
export const ALERT = {
  handshake_failure: 40,
  internal_error: 80,
  unrecognized_name: 112,
  no_application_protocol: 120,
  protocol_version: 70,
  decode_error: 50,
} as const;

/** ContentType alert(21), RFC 8446 §5.1. */
const CONTENT_TYPE_ALERT = 0x15;
/** AlertLevel fatal(2). RFC 8446 §6: "In TLS 1.3, the severity is implicit in the type of alert being sent". */
const LEVEL_FATAL = 2;

/**
 * Encodes a fatal alert as one plaintext TLS record: `15 03 03 00 02 02 <description>`.
 *
 * The record version is 0x0303, which RFC 8446 §5.1 requires of every record but an initial ClientHello and which
 * TLS 1.2 clients accept as well. RFC 8446 §5.1: "a record with an Alert type MUST contain exactly one message."
 *
 * @param description An AlertDescription (0..255), usually a value of {@link ALERT}.
 * @throws RangeError when `description` is not an integer in 0..255: a programming error, not peer input.
 */
export function encodeFatalAlert(description: number): Uint8Array {
  if (!Number.isInteger(description) || description < 0 || description > 255) {
    throw new RangeError(`alert description must be an integer in 0..255, got ${description}`);
  }
  return Uint8Array.of(CONTENT_TYPE_ALERT, 0x03, 0x03, 0x00, 0x02, LEVEL_FATAL, description);
}
