/**
 * What Let's Encrypt says when it cannot get as far as looking at a certificate: the DNS lookup, the connection,
 * the TLS handshake and the ALPN check. Pure text, modelled on Boulder's VA (va/tlsalpn.go, detailedError in
 * va/va.go, bdns) and on the Go TLS client it runs; the certificate texts themselves live in
 * `challenge/verify.ts` (CA_PROBLEMS). Nothing here touches the network.
 */
import { ACME_TLS_ALPN } from '../constants.js';
import { goQuote } from './verify.js';

/**
 * How one connection attempt failed before a certificate could be checked, as far as the CA's wording depends
 * on it. `message` is what the local TLS/socket layer said, for hints; the CA never shows it.
 */
export type ProbeFailure =
  | {
      readonly phase: 'connect';
      readonly reason: 'refused' | 'timeout' | 'network-unreachable' | 'reset' | 'other';
      readonly message: string;
    }
  | { readonly phase: 'handshake'; readonly reason: 'alert'; readonly alert: number; readonly message: string }
  | {
      readonly phase: 'handshake';
      /**
       * The first bytes back were neither a TLS record nor `HTTP/` (an HTTP/0.9-style error page such as Python's
       * http.server sends, an SSH banner, …): Go refuses the record header and Boulder, seeing no `HTTP/`, says
       * only "Error getting validation data".
       */
      readonly reason: 'not-tls';
      /** The first bytes, printable ASCII kept and the rest escaped, for hints. */
      readonly head: string;
      readonly message: string;
    }
  | {
      readonly phase: 'handshake';
      /** `http`: the first bytes back were `HTTP/`; `closed`: the peer closed without an alert. */
      readonly reason: 'http' | 'reset' | 'timeout' | 'closed' | 'other';
      readonly message: string;
    };

/** Boulder's texts that carry no certificate detail. */
export const CONNECTION_PROBLEMS = {
  /** Anything Boulder does not recognise (EOF during the handshake, a local TLS error, …). */
  generic: 'Error getting validation data',
  connectionRefused: 'Connection refused',
  networkUnreachable: 'Network unreachable',
  connectionReset: 'Connection reset by peer',
  connectTimeout: 'Timeout during connect (likely firewall problem)',
  handshakeTimeout: 'Timeout after connect (your server may be slow or overloaded)',
  onlyHttp: 'Server only speaks HTTP, not TLS',
  noAlpn: `Cannot negotiate ALPN protocol ${goQuote(ACME_TLS_ALPN)} for tls-alpn-01 challenge`,
  noCertificates: 'No certs presented for tls-alpn-01 challenge',
} as const;

/** Go's crypto/tls alert texts (alert.go); Boulder hands them on as `remote error: tls: <text>`. */
const GO_ALERT_TEXT: Readonly<Record<number, string>> = {
  0: 'close notify',
  10: 'unexpected message',
  20: 'bad record MAC',
  21: 'decryption failed',
  22: 'record overflow',
  30: 'decompression failure',
  40: 'handshake failure',
  42: 'bad certificate',
  43: 'unsupported certificate',
  44: 'revoked certificate',
  45: 'expired certificate',
  46: 'unknown certificate',
  47: 'illegal parameter',
  48: 'unknown certificate authority',
  49: 'access denied',
  50: 'error decoding message',
  51: 'error decrypting message',
  60: 'export restriction',
  70: 'protocol version not supported',
  71: 'insufficient security level',
  80: 'internal error',
  86: 'inappropriate fallback',
  90: 'user canceled',
  100: 'no renegotiation',
  109: 'missing extension',
  110: 'unsupported extension',
  111: 'certificate unobtainable',
  112: 'unrecognized name',
  113: 'bad certificate status response',
  114: 'bad certificate hash value',
  115: 'unknown PSK identity',
  116: 'certificate required',
  120: 'no application protocol',
  121: 'encrypted client hello required',
};

/** Go's `alert.Error()`: `tls: unrecognized name`, or `tls: alert(N)` for a number it has no name for. */
export function goAlertError(alert: number): string {
  return `tls: ${GO_ALERT_TEXT[alert] ?? `alert(${alert})`}`;
}

/**
 * The detail Let's Encrypt shows for a failed connection attempt to `address` (an IP in Go's text form). Boulder
 * prefixes every dial and handshake failure with the address it dialled (`2001:db8::1: Connection refused`).
 */
export function connectionProblemDetail(failure: ProbeFailure, address: string): string {
  return `${address}: ${connectionProblem(failure)}`;
}

function connectionProblem(failure: ProbeFailure): string {
  switch (failure.reason) {
    case 'refused':
      return CONNECTION_PROBLEMS.connectionRefused;
    case 'network-unreachable':
      return CONNECTION_PROBLEMS.networkUnreachable;
    case 'reset':
      return CONNECTION_PROBLEMS.connectionReset;
    case 'timeout':
      return failure.phase === 'connect' ? CONNECTION_PROBLEMS.connectTimeout : CONNECTION_PROBLEMS.handshakeTimeout;
    case 'http':
      return CONNECTION_PROBLEMS.onlyHttp;
    case 'alert':
      // A close_notify during the handshake is io.EOF to Go, not an alert error.
      return failure.alert === 0 ? CONNECTION_PROBLEMS.generic : `remote error: ${goAlertError(failure.alert)}`;
    case 'closed':
    case 'not-tls':
    case 'other':
      return CONNECTION_PROBLEMS.generic;
  }
}

/**
 * Boulder's answer when the first IPv6 address failed and there is no IPv4 address to fall back to: it names the
 * identifier and the address, and hides the IPv6 failure itself.
 */
export function noFallbackProblem(identifier: string, ipv6Address: string): string {
  return `Unable to contact ${goQuote(identifier)} at ${goQuote(ipv6Address)}, no IPv4 addresses to try as fallback`;
}

/** The record types the CA looks up. */
export type RecordType = 'A' | 'AAAA';

/**
 * How one address lookup went wrong, in resolver terms: an RCODE (`NXDOMAIN`, `SERVFAIL`, `REFUSED`, …), `timeout`,
 * `network` (the resolver was unreachable), or `empty` (an answer without usable records).
 */
export type LookupFailure = 'empty' | 'timeout' | 'network' | 'server-failure' | `rcode:${string}`;

/** Boulder's explanations for the RCODEs it explains. */
const RCODE_EXPLANATION: Readonly<Record<string, string>> = {
  NXDOMAIN: 'check that a DNS record exists for this domain',
  SERVFAIL: "the domain's nameservers may be malfunctioning",
};

/** Boulder's text for one failed A or AAAA lookup (bdns DNSError, or the "no valid records" of LookupHost). */
function lookupProblem(type: RecordType, name: string, failure: LookupFailure): string {
  if (failure === 'empty') return `no valid ${type} records found for ${name}`;
  let detail: string;
  let explanation = '';
  if (failure === 'timeout') detail = 'query timed out';
  else if (failure === 'network') detail = 'networking error';
  else if (failure === 'server-failure') detail = 'server failure at resolver';
  else {
    detail = failure.slice('rcode:'.length);
    const known = RCODE_EXPLANATION[detail];
    if (known !== undefined) explanation = ` - ${known}`;
  }
  return `DNS problem: ${detail} looking up ${type} for ${name}${explanation}`;
}

/** Boulder fails only when both lookups fail, and joins the two errors A first: `<A problem>; <AAAA problem>`. */
export function resolutionProblem(name: string, a: LookupFailure, aaaa: LookupFailure): string {
  return `${lookupProblem('A', name, a)}; ${lookupProblem('AAAA', name, aaaa)}`;
}
