import { ACME_TLS_ALPN } from '../constants.js';
import { ALERT } from '../tls/alert.js';
import type { ClientHello } from '../tls/client-hello.js';

/** What to do with a connection, decided from its ClientHello alone. */
export type Route<T> =
  | { readonly kind: 'challenge'; readonly target: T }
  | { readonly kind: 'reject'; readonly alert: number; readonly reason: RejectReason };

/** Why a connection was refused, as logged. */
export type RejectReason = 'no-acme-alpn' | 'no-sni' | 'unknown-name';

/**
 * Routes a ClientHello. RFC 8737 §4 and §5: the challenge certificate is only for a client that offers
 * `acme-tls/1` and names the identifier in SNI; any other client must never receive it, so such a hello is refused
 * here, before a TLS library could pick a certificate on its own.
 */
export function route<T>(hello: ClientHello, lookup: (sni: string) => T | undefined): Route<T> {
  if (!hello.alpn.includes(ACME_TLS_ALPN)) {
    // RFC 7301 §3.2: a server that supports none of the offered protocols answers no_application_protocol.
    const alert = hello.hasAlpnExtension ? ALERT.no_application_protocol : ALERT.handshake_failure;
    return { kind: 'reject', alert, reason: 'no-acme-alpn' };
  }
  if (hello.serverName === undefined) return { kind: 'reject', alert: ALERT.unrecognized_name, reason: 'no-sni' };
  // RFC 6066 §3: host names are compared case-insensitively; a trailing dot is not part of the name.
  const sni = hello.serverName.toLowerCase().replace(/\.$/, '');
  const target = lookup(sni);
  if (target === undefined) return { kind: 'reject', alert: ALERT.unrecognized_name, reason: 'unknown-name' };
  return { kind: 'challenge', target };
}
