/**
 * Plain-language likely causes and fixes for what `validate` found, one sentence or two each. Pure: every fact a
 * hint needs is handed in. The CA's own wording is elsewhere (challenge/verify.ts, ca-texts.ts); these say what
 * usually produces it on a machine running alpn-responder, and what to do.
 */
import { ACME_IDENTIFIER_OID, ACME_TLS_ALPN } from '../constants.js';
import { CA_PROBLEMS, type CertificateCheck } from './verify.js';
import { formatListenAddress } from '../net/listen-address.js';
import { ALERT } from '../tls/alert.js';
import type { LookupFailure, ProbeFailure } from './ca-texts.js';
import type { CertificateSummary } from './served-certificate.js';

/** What one connection attempt produced, as far as a hint needs it. */
export interface AttemptFacts {
  readonly address: string;
  readonly port: number;
  /** Set when the connection or handshake failed. */
  readonly failure?: ProbeFailure;
  /** The CA's verdict on the certificate, when one was served. */
  readonly check?: CertificateCheck;
  readonly certificate?: CertificateSummary;
  /** The negotiated protocol, once a handshake completed. */
  readonly alpn?: string | false;
}

/** The validation the hint is about. */
export interface HintContext {
  /** The identifier in human form. */
  readonly identifier: string;
  readonly sni: string;
  readonly timeoutMs: number;
  /** True inside the doctor's self-test, whose own port lines name the owner: it must not send you to itself. */
  readonly inDoctor?: boolean;
}

/** Where to look next for who owns the port. */
function ownerAdvice(context: HintContext): string {
  return context.inDoctor ? 'the port lines above name who owns the port' : 'run `alpn-responder doctor` to see what owns the port';
}

/** Cuts a CA_PROBLEMS template at its variable part, so problems can be told apart without copying their texts. */
const SENTINEL = 'SENTINEL';
const prefixOf = (text: string): string => text.slice(0, text.indexOf(SENTINEL));
const UNEXPECTED_EXTENSIONS = prefixOf(CA_PROBLEMS.unexpectedExtensions(SENTINEL));
const UNEXPECTED_IDENTIFIERS = prefixOf(CA_PROBLEMS.unexpectedIdentifiers(SENTINEL, ''));
const WRONG_VALUE = prefixOf(CA_PROBLEMS.wrongValue(SENTINEL, ''));

/**
 * Why the name did not resolve, and what to do. `resolver` is --resolver's HOST:PORT (undefined: this machine's
 * resolver); `failures` what each family's lookup ran into, when known: a resolver that did not answer says
 * nothing about the records.
 */
export function resolutionHint(name: string, resolver?: string, failures?: { readonly a: LookupFailure; readonly aaaa: LookupFailure }): string {
  const asked = resolver === undefined ? "this machine's resolver" : `the DNS server ${resolver} (--resolver)`;
  const dead = (failure: LookupFailure): boolean => failure === 'timeout' || failure === 'network';
  if (failures !== undefined && (dead(failures.a) || dead(failures.aaaa))) {
    return (
      `${asked} did not answer, so nothing is known about ${name}'s records: ` +
      (resolver === undefined
        ? 'check /etc/resolv.conf and this host\'s network'
        : `check that a DNS server runs at ${resolver} and answers over UDP`) +
      '; or pass --host to test the server directly'
    );
  }
  return (
    `${name} has no address in DNS (asked with ${asked}; the CA asks with its own): create an A ` +
    'and/or AAAA record pointing at this server, and allow a new record time to propagate; or pass --host to ' +
    'test the server directly'
  );
}

/** The likely cause of one attempt's failure: connection, handshake, ALPN or certificate. */
export function attemptHint(facts: AttemptFacts, context: HintContext): string {
  const where = formatListenAddress({ host: facts.address, port: facts.port });
  if (facts.failure !== undefined) return failureHint(facts.failure, where, facts.port, context);
  if (facts.check === undefined) {
    return `the server at ${where} completed the handshake without a certificate: this is not alpn-responder answering; ${ownerAdvice(context)}`;
  }
  if (!facts.check.ok && facts.check.stage === 'tls') {
    return (
      `this is not alpn-responder's certificate: the CA's TLS client (Go) cannot parse the certificate ${where} ` +
      `serves (${facts.check.detail ?? 'malformed'}), so the handshake itself fails; ${ownerAdvice(context)}`
    );
  }
  if (facts.alpn !== ACME_TLS_ALPN) {
    const negotiated = facts.alpn === false || facts.alpn === undefined ? 'no protocol' : `"${facts.alpn}"`;
    return (
      `the server does not speak ${ACME_TLS_ALPN} (it negotiated ${negotiated}): a proxy in front may not pass it ` +
      `through to alpn-responder, or another TLS server answered on ${where}${served(facts.certificate, ' (it served ', ')')}; ${ownerAdvice(context)}`
    );
  }
  if (!facts.check.ok) return certificateHint(facts.check.problem, facts.certificate, where, facts.port, context);
  return `${where} serves a valid challenge certificate for ${context.identifier}`;
}

/**
 * The classic trap: over IPv6 the wrong server answered, while IPv4 is right. The CA tries IPv6 first and only
 * falls back when IPv6 cannot connect or complete a handshake.
 */
export function ipv6TrapHint(ipv6: AttemptFacts, ipv4Address: string, context: HintContext): string {
  const v6 = formatListenAddress({ host: ipv6.address, port: ipv6.port });
  const v4 = formatListenAddress({ host: ipv4Address, port: ipv6.port });
  return (
    `the CA tries IPv6 first and does not fall back to IPv4 after a wrong answer: ${v4} serves the right ` +
    `certificate, but ${v6} does not. Make the daemon listen on [::]:${ipv6.port} too (dual-stack), or remove ` +
    `the AAAA record for ${context.identifier}. On IPv6: ${attemptHint(ipv6, context)}`
  );
}

/** The first IPv6 address failed and there is no IPv4 address to fall back to. */
export function noFallbackHint(ipv6: AttemptFacts, context: HintContext): string {
  const v6 = formatListenAddress({ host: ipv6.address, port: ipv6.port });
  return `the CA tried only ${v6} (there is no IPv4 address to fall back to) and it failed: ${attemptHint(ipv6, context)}`;
}

/** A success that leaned on the fallback: worth fixing before IPv6 starts answering wrongly. */
export function fellBackHint(ipv6: AttemptFacts, context: HintContext): string {
  const v6 = formatListenAddress({ host: ipv6.address, port: ipv6.port });
  return (
    `passes over IPv4 only because ${v6} failed to connect or complete a handshake and the CA then falls back; ` +
    `should anything ever answer wrongly over IPv6, the CA will not fall back. Make the daemon listen on ` +
    `[::]:${ipv6.port}, or remove the AAAA record. On IPv6: ${attemptHint(ipv6, context)}`
  );
}

function failureHint(failure: ProbeFailure, where: string, port: number, context: HintContext): string {
  const seconds = `${context.timeoutMs / 1000} s`;
  switch (failure.reason) {
    case 'refused':
      return (
        `nothing listens on ${where}: start the daemon (\`alpn-responder serve\`, which listens on [::]:443 by ` +
        `default) or make its --listen cover this address; behind NAT, forward port ${port} to it`
      );
    case 'timeout':
      return failure.phase === 'connect'
        ? `no answer from ${where} within ${seconds}: a firewall (the host's, or the provider's security group) drops connections to port ${port}, or the address is not this server`
        : `${where} accepted the connection but did not complete a TLS handshake within ${seconds}: something that is not a TLS server listens there, or it waits for what the CA never sends (such as a PROXY protocol header), or it is overloaded`;
    case 'network-unreachable':
      return `this machine has no route to ${where} (no IPv6 connectivity here?); the CA connects from the internet and may fare differently, so check the address in DNS`;
    case 'reset':
      return `the connection to ${where} was reset: a firewall or an SNI-filtering proxy in the path, or a server that refuses ${context.sni}`;
    case 'http':
      return `a plain-HTTP server answers on ${where}: port ${port} must speak TLS to alpn-responder; is a web server listening there without TLS? ${ownerAdvice(context)}`;
    case 'not-tls':
      return (
        `${where} answered with "${failure.head}…", which is not TLS: a plain-HTTP server that answers without a ` +
        `status line (Python's http.server does), or another protocol, listens on port ${port}; the CA names no ` +
        `cause for this and says only "Error getting validation data"; ${ownerAdvice(context)}`
      );
    case 'closed':
      return (
        `the server at ${where} closed the connection without finishing the handshake: alpn-responder started ` +
        `with --accept-proxy-protocol does this when no PROXY header comes first, and other servers when they ` +
        `cannot serve ${context.sni}; ${ownerAdvice(context)}`
      );
    case 'alert':
      return alertHint(failure.alert, where, context);
    case 'other':
      if (failure.phase === 'connect') {
        return `connecting to ${where} failed (${failure.message}): check the address in DNS and the routing to it`;
      }
      return (
        `the TLS handshake with ${where} failed (${failure.message}): the server may offer only protocol ` +
        `versions or ciphers the CA does not accept (it requires TLS 1.2 or later); ${ownerAdvice(context)}`
      );
  }
}

function alertHint(alert: number, where: string, context: HintContext): string {
  if (alert === ALERT.unrecognized_name) {
    return (
      `the daemon answered but has no challenge deployed for ${context.sni}: did the hook run (deploy_challenge)? ` +
      '`alpn-responder list` shows what is deployed'
    );
  }
  if (alert === ALERT.no_application_protocol) {
    return (
      `the server refused ${ACME_TLS_ALPN}: another TLS server (nginx, Apache, a CDN) answered on ${where} ` +
      `instead of alpn-responder, or a proxy in front does not pass ${ACME_TLS_ALPN} through; ${ownerAdvice(context)}`
    );
  }
  return `the server at ${where} refused the handshake with a TLS alert: it is not alpn-responder, or it cannot serve ${context.sni}; ${ownerAdvice(context)}`;
}

function certificateHint(
  problem: string,
  certificate: CertificateSummary | undefined,
  where: string,
  port: number,
  context: HintContext,
): string {
  const notOurs = (why: string): string =>
    `this is not alpn-responder's certificate: ${why}; another TLS-ALPN responder answered on ${where} — ${ownerAdvice(context)}`;
  if (problem === CA_PROBLEMS.notSelfSigned) {
    const issued = certificate === undefined ? '' : ` — the served certificate for ${certificate.subject} was issued by ${certificate.issuer}`;
    return `another TLS server answered on ${where}${issued}; is nginx/Apache (or another ACME client's responder) on port ${port}? ${ownerAdvice(context)}`;
  }
  if (problem.startsWith(UNEXPECTED_EXTENSIONS) && problem.includes(ACME_IDENTIFIER_OID)) {
    return (
      `the certificate served${served(certificate, ' (', ')')} has no acmeIdentifier extension: an ordinary ` +
      `certificate, not a challenge one — another TLS server answered on ${where}, or a proxy routes ` +
      `${ACME_TLS_ALPN} to the wrong backend; ${ownerAdvice(context)}`
    );
  }
  if (problem === CA_PROBLEMS.missingAcmeIdentifier) return notOurs('it has no acmeIdentifier extension');
  if (problem.startsWith(UNEXPECTED_EXTENSIONS)) return notOurs('it has no subjectAltName extension');
  if (problem.startsWith(UNEXPECTED_IDENTIFIERS)) {
    const names = certificate?.san ?? [];
    if (names.length === 1) {
      return (
        `a challenge certificate for ${names[0] ?? ''} was served when the CA asked for ${context.sni}: the ` +
        `responder that answered ignores SNI (alpn-responder picks the certificate by SNI) — ${ownerAdvice(context)}`
      );
    }
    return notOurs(`its subjectAltName must name exactly ${context.identifier} and nothing else, not ${names.length === 0 ? 'nothing' : names.join(', ')}`);
  }
  if (problem === CA_PROBLEMS.notCritical) return notOurs('its acmeIdentifier extension is not marked critical (RFC 8737 §3 requires it)');
  if (problem === CA_PROBLEMS.malformedValue) return notOurs('its acmeIdentifier value is not a 32-byte OCTET STRING');
  if (problem.startsWith(WRONG_VALUE)) {
    return (
      `a stale challenge: the daemon serves a key authorization other than the one expected; redeploy (the ` +
      `hook's deploy_challenge with the current DIGEST) — the CA sent a different key authorization, e.g. for a ` +
      `newer order or another account`
    );
  }
  return notOurs(problem);
}

/** `<before>a certificate for X issued by Y<after>`, or nothing when no summary is at hand. */
function served(certificate: CertificateSummary | undefined, before: string, after: string): string {
  if (certificate === undefined) return '';
  const issuer = certificate.selfSigned ? 'self-signed' : `issued by ${certificate.issuer}`;
  return `${before}a certificate for ${certificate.subject}, ${issuer}${after}`;
}
