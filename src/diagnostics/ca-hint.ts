/**
 * What a CA's validation error means for this setup: maps the problem text a CA reports (Let's Encrypt's Boulder,
 * Pebble) to the likely cause and what to do. Pure; shared by `doctor --explain` (which the hook's
 * `invalid_challenge` calls) and the doctor's self-test.
 */
import { parseIPv6 } from '../challenge/identifier.js';

/** A CA problem and what to do about it. */
export interface CaExplanation {
  /** The ACME problem type, e.g. `urn:ietf:params:acme:error:connection`, when the input carried one. */
  readonly type?: string;
  /** The CA's text. */
  readonly detail: string;
  /** Most likely cause first; never empty. */
  readonly hints: readonly string[];
}

/** Longest input looked at: a challenge object is well under 4 KiB. */
const MAX_INPUT = 64 * 1024;

const DOCTOR = 'Run `alpn-responder doctor` on this host';

/** Cause rules, most specific first: the first that matches is the main hint. */
const CAUSES: readonly { readonly test: RegExp; readonly hint: string }[] = [
  {
    test: /acmeValidationV1 extension value \S+ but expected/i,
    hint:
      'The challenge certificate carried another digest: the name was deployed again in between (two dehydrated runs ' +
      'at once, or another ACME client using the same daemon), or the DIGEST was changed on the way. Run one ' +
      'dehydrated at a time; `alpn-responder list` shows the digest deployed for each name.',
  },
  {
    test: /not self-signed|no acmeValidationV1 extension|acmeValidationV1 extension that is not Critical|malformed acmeValidationV1|unexpected extensions/i,
    hint:
      'Something other than alpn-responder answered the CA with an ordinary certificate: a web server or proxy on ' +
      'port 443, on the other address family, or another host the name resolves to. ' +
      `${DOCTOR}: it names who owns port 443 on IPv4 and IPv6.`,
  },
  {
    test: /unexpected identifiers|wrong number of identifiers|does not match expected identifier|SAN extension does not match/i,
    hint:
      'The certificate that answered names another identifier: another TLS-ALPN responder, or a proxy routing by ' +
      'SNI, answered instead of this daemon. Make sure port 443 reaches alpn-responder for this name (docs/layouts.md).',
  },
  {
    test: /negotiate ALPN|no application protocol|acme-tls\/1/i,
    hint:
      'The server that answered does not speak acme-tls/1: a web server owns port 443, or a proxy in front does not ' +
      'pass acme-tls/1 connections to alpn-responder. See docs/layouts.md for the three ways to share port 443.',
  },
  {
    test: /only speaks HTTP|No certs presented/i,
    hint:
      'A server that is not alpn-responder answered on port 443 (plain HTTP, or TLS without a certificate): move ' +
      `it off port 443 or behind the daemon (docs/layouts.md). ${DOCTOR}: it names who owns the port.`,
  },
  {
    test: /unrecognized.name/i,
    hint:
      'The server that answered had no challenge for this name: it was not deployed, already cleaned, expired (TTL), ' +
      'or deployed to another daemon (check ALPN_RESPONDER_CONTROL and that port 443 reaches the daemon the hook ' +
      'talks to). `alpn-responder list` shows what is deployed.',
  },
  {
    test: /DNS problem|NXDOMAIN|SERVFAIL|no valid (?:IP addresses|A records|AAAA records)|no such host/i,
    hint: "The name does not resolve to this host in public DNS: fix its A/AAAA records (the CA connects to them).",
  },
  {
    test: /no IPv4 addresses to try as fallback/i,
    hint:
      'The name has only IPv6 addresses and the CA could not connect over IPv6: make the daemon listen on ' +
      "[::]:443 and open port 443 for IPv6, or give the name an A record.",
  },
  {
    test: /Timeout after connect/i,
    hint:
      'The CA connected but got no TLS handshake in time: something that is not a TLS server owns port 443, a ' +
      'daemon started with --accept-proxy-protocol waits for a PROXY header the CA never sends, or the host is ' +
      'overloaded.',
  },
  {
    test: /connection refused/i,
    hint:
      'Nothing accepted the connection on port 443 at the address the CA used: start the daemon, listen on ' +
      `[::]:443 (IPv4 and IPv6), and check that the address is this host's. ${DOCTOR}.`,
  },
  {
    test: /timeout|timed out|deadline exceeded/i,
    hint:
      'The CA got no answer: a firewall drops port 443 (open TCP 443 from the internet, IPv4 and IPv6), or the ' +
      "name's A/AAAA record points to another host.",
  },
  {
    test: /network unreachable|no route to host/i,
    hint:
      "The CA has no route to the name's address: check the A/AAAA records, and that this host's IPv6 (if it has an " +
      'AAAA record) is reachable from the internet.',
  },
  {
    test: /connection reset|reset by peer|\bEOF\b|broken pipe/i,
    hint:
      'The connection was cut before the TLS handshake finished: a firewall or IPS, a proxy that does not pass TLS ' +
      'through unchanged, or a daemon started with --accept-proxy-protocol that was reached without a PROXY header.',
  },
  {
    test: /handshake failure|tls:|Error getting validation data/i,
    hint:
      `The TLS handshake with the CA failed before any certificate check: another TLS server answered, or a proxy ` +
      `interfered. ${DOCTOR}; the daemon log shows whether the CA's connection arrived (event=connection).`,
  },
];

const IPV6_HINT =
  'The CA connected over IPv6 (the name has an AAAA record, which the CA tries first): the daemon must listen on ' +
  "[::]:443 and port 443 must be open for IPv6 — or remove the AAAA record if this host has no working IPv6.";

const SECONDARY_HINT =
  "The CA validates from several places: at least one of them could not reach the host. Don't restrict port 443 " +
  'to some source addresses or countries.';

const FALLBACK_HINT =
  `${DOCTOR} for a full check; the daemon log shows each connection it got (event=connection … outcome=…).`;

/**
 * True when the text names an IPv6 address the way CAs print it: `[2001:db8::1]:443`, `"2001:db8::1"`, or a
 * `2001:db8::1: ` prefix.
 */
function namesIPv6Address(detail: string): boolean {
  const candidates = [
    ...[...detail.matchAll(/[["]([0-9A-Fa-f:.]+)[\]"]/g)].map((m) => m[1] ?? ''),
    ...[...detail.matchAll(/(?:^|\s)([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}):(?:\s|$)/g)].map((m) => m[1] ?? ''),
  ];
  return candidates.some((candidate) => parseIPv6(candidate) !== undefined);
}

/**
 * Hints for a CA problem text: the main cause, then what the address and the wording add. `inDoctor`: for the
 * doctor's own output, which must not send the operator to the doctor.
 */
export function caHints(detail: string, options: { readonly inDoctor?: boolean } = {}): string[] {
  if (options.inDoctor) return caHints(detail).map((hint) => hint.replaceAll(DOCTOR, 'The port lines above name the owner'));
  const hints: string[] = [];
  const cause = CAUSES.find((rule) => rule.test.test(detail));
  if (cause) hints.push(cause.hint);
  if (namesIPv6Address(detail)) hints.push(IPV6_HINT);
  if (/secondary validation|remote perspective|perspectives/i.test(detail)) hints.push(SECONDARY_HINT);
  if (hints.length === 0) hints.push(FALLBACK_HINT);
  return hints;
}

interface Problem {
  type?: string;
  detail?: string;
}

function asProblem(value: unknown): Problem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, detail } = value as Record<string, unknown>;
  if (typeof detail !== 'string') return undefined;
  return { type: typeof type === 'string' ? type : undefined, detail };
}

/** The problem in a challenge (`error`), an authorization (`challenges[].error`) or a bare problem document. */
function problemInJson(value: unknown): Problem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const object = value as Record<string, unknown>;
  const direct = asProblem(object.error);
  if (direct) return direct;
  if (Array.isArray(object.challenges)) {
    for (const challenge of object.challenges) {
      const found = asProblem((challenge as Record<string, unknown> | null)?.error);
      if (found) return found;
    }
  }
  return asProblem(object);
}

/** Reads one JSON string literal, as dehydrated's JSON.sh prints values; undefined if it is not one. */
function jsonString(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * dehydrated's `invalid_challenge` RESPONSE is its JSON.sh flattening of the challenge, one `["path"]<TAB>value`
 * line per leaf: `["error","detail"]	"192.0.2.1: Connection refused"`.
 */
function problemInJsonSh(text: string): Problem | undefined {
  const field = (name: string): string | undefined =>
    jsonString(new RegExp(`^\\["error","${name}"\\]\\s+(".*")\\s*$`, 'm').exec(text)?.[1]);
  const detail = field('detail');
  return detail === undefined ? undefined : { type: field('type'), detail };
}

/**
 * Explains what a CA reported. `response` may be the RESPONSE dehydrated hands to `invalid_challenge` (JSON.sh
 * lines), the challenge or authorization as JSON, a problem document, or just the detail text.
 */
export function explainCaResponse(response: string): CaExplanation {
  const text = response.slice(0, MAX_INPUT).trim();
  let problem = problemInJsonSh(text);
  if (problem === undefined && text.startsWith('{')) {
    try {
      problem = problemInJson(JSON.parse(text));
    } catch {
      // Not JSON after all: read it as the detail text.
    }
  }
  const detail = problem?.detail ?? text;
  return { ...(problem?.type === undefined ? {} : { type: problem.type }), detail, hints: caHints(detail) };
}
