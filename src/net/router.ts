import { ACME_TLS_ALPN } from '../constants.js';
import { ALERT } from '../tls/alert.js';
import type { ClientHello } from '../tls/client-hello.js';

/** What to do with a connection, decided from its ClientHello alone. */
export type Route<T, B> =
  | { readonly kind: 'challenge'; readonly target: T }
  | { readonly kind: 'passthrough'; readonly backend: B }
  | { readonly kind: 'reject'; readonly alert: number; readonly reason: RejectReason };

/** Why a connection was refused, as logged. */
export type RejectReason = 'no-acme-alpn' | 'no-sni' | 'unknown-name';

/** Lookups the router decides with. */
export interface RouteTables<T, B> {
  /** The deployed challenge for an SNI value (lower-case, no trailing dot). */
  readonly challenge: (sni: string) => T | undefined;
  /** The backend for ordinary TLS, by SNI as the client sent it. */
  readonly backend: (serverName: string | undefined) => B | undefined;
}

/**
 * Routes a ClientHello. RFC 8737 §4 and §5: the challenge certificate is only for a client that offers
 * `acme-tls/1` and names the identifier in SNI. Such hellos are always answered here — a backend would answer
 * with its own certificate, which the CA reports as "not self-signed" — and every other hello goes to a backend
 * untouched, or is refused when there is none, before a TLS library could pick a certificate on its own.
 */
export function route<T, B>(hello: ClientHello, tables: RouteTables<T, B>): Route<T, B> {
  if (!hello.alpn.includes(ACME_TLS_ALPN)) {
    const backend = tables.backend(hello.serverName);
    if (backend !== undefined) return { kind: 'passthrough', backend };
    // RFC 7301 §3.2: a server that supports none of the offered protocols answers no_application_protocol.
    const alert = hello.hasAlpnExtension ? ALERT.no_application_protocol : ALERT.handshake_failure;
    return { kind: 'reject', alert, reason: 'no-acme-alpn' };
  }
  if (hello.serverName === undefined) return { kind: 'reject', alert: ALERT.unrecognized_name, reason: 'no-sni' };
  // The parser lower-cases SNI (RFC 6066 §3 compares host names case-insensitively) and keeps a trailing dot,
  // which RFC 6066 forbids and no CA sends, so such a name matches nothing.
  const target = tables.challenge(hello.serverName);
  if (target === undefined) return { kind: 'reject', alert: ALERT.unrecognized_name, reason: 'unknown-name' };
  return { kind: 'challenge', target };
}
