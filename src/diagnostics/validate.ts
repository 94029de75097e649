/**
 * `validate`: performs the TLS-ALPN-01 check the way Let's Encrypt's validation authority (Boulder VA,
 * va/tlsalpn.go) does, and explains a failure in the CA's words plus a likely cause.
 *
 * Boulder's order: resolve AAAA and A; dial the first IPv6 address; only when that fails to connect or to finish
 * the handshake (which includes Go parsing the certificate) dial the first IPv4 address — a wrong answer over
 * IPv6 is final. Then: a certificate presented, `acme-tls/1` negotiated, and the certificate checks of
 * `checkChallengeCertificate`. Which address comes first depends on the resolver's order, which DNS servers
 * rotate, so every AAAA is tried as the first IPv6 address and, where the CA would fall back, every A as the first
 * IPv4 one: the name passes only when the CA would accept it whichever order it gets.
 *
 * Not modelled: the CA refusing private and reserved addresses (a name resolving to 10.0.0.1 fails at Let's
 * Encrypt with "no valid A records found"), multi-perspective validation from several vantage points, CAA, and
 * differences between OpenSSL (which this client is) and Go's TLS stack in what handshakes they complete.
 */
import { parseAuthorization } from '../challenge/authorization.js';
import { formatIdentifier, parseIdentifier, type Identifier } from '../challenge/identifier.js';
import { formatIpAddress, ipVersion, parseIPv4, parseIPv6 } from '../ip-address.js';
import { caProblemDetail, checkChallengeCertificate } from './verify.js';
import { ACME_TLS_ALPN } from '../constants.js';
import { AlpnResponderError, hasCode } from '../errors.js';
import { CONNECTION_PROBLEMS, connectionProblemDetail, noFallbackProblem, resolutionProblem } from './ca-texts.js';
import { attemptHint, fellBackHint, ipv6TrapHint, noFallbackHint, resolutionHint, type AttemptFacts, type HintContext } from './hints.js';
import { NameNotResolvedError, resolveAddresses, resolverServer, type ResolvedAddresses } from './resolve-addresses.js';
import { summarizeCertificate, type CertificateSummary } from './served-certificate.js';
import { probe } from './tls-probe.js';

/** The port the CA dials (RFC 8737 §3). */
export const DEFAULT_VALIDATE_PORT = 443;

/** Per connection attempt, connect and handshake together: Boulder's single dial timeout. */
export const DEFAULT_VALIDATE_TIMEOUT_MS = 10_000;

/** Longest timeout accepted: ten minutes is already far beyond what any CA waits. */
const MAX_TIMEOUT_MS = 600_000;

/**
 * Addresses dialled per family, the first ones DNS returned: a name with 2,000 A records would otherwise open 2,000
 * sockets at once. Round-robin sets are a handful; the ones left out are reported as not checked.
 */
export const MAX_ADDRESSES_PER_FAMILY = 16;

/** Connection attempts in flight at once. */
export const VALIDATE_CONCURRENCY = 4;

/** The addresses to dial, per family, and how many of each were left out. */
export interface AddressPlan {
  readonly v6: readonly string[];
  readonly v4: readonly string[];
  readonly unchecked: { readonly v6: number; readonly v4: number };
}

/** The first {@link MAX_ADDRESSES_PER_FAMILY} addresses of each family (duplicates dialled once). */
export function planAddresses(addresses: ResolvedAddresses, max = MAX_ADDRESSES_PER_FAMILY): AddressPlan {
  const v6 = [...new Set(addresses.v6)];
  const v4 = [...new Set(addresses.v4)];
  return { v6: v6.slice(0, max), v4: v4.slice(0, max), unchecked: { v6: Math.max(0, v6.length - max), v4: Math.max(0, v4.length - max) } };
}

/** `work` over `items`, at most `limit` at once, results in the order of `items`. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** What to validate and how. */
export interface ValidateOptions {
  /** Identifier as the operator writes it: DNS name, IP, or reverse-DNS name. */
  readonly name: string;
  /** Connect here instead of resolving (IP or host name). */
  readonly host?: string;
  /** Default 443. */
  readonly port?: number;
  /** Authorization in any accepted form (see parseAuthorization); when absent the digest is not compared. */
  readonly expect?: string;
  /** Per connection attempt, default 10000 (Boulder uses 10 s). */
  readonly timeoutMs?: number;
  /** Set by the doctor's self-test: hints then do not tell the operator to run the doctor. */
  readonly inDoctor?: boolean;
  /** `HOST:PORT` of a DNS server to ask instead of the system resolver (e.g. pebble-challtestsrv). */
  readonly resolver?: string;
  /** Injectable for tests; default: {@link resolveAddresses} with `resolver`. */
  readonly resolve?: (name: string) => Promise<{ v6: string[]; v4: string[] }>;
}

/** One connection the CA would make. */
export interface ValidationAttempt {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly outcome: 'accepted' | 'connect-failed' | 'handshake-failed' | 'rejected';
  /** For failures, what the CA would say about this attempt. */
  readonly detail?: string;
}

/** The CA's verdict, with what was served and a likely cause. */
export interface ValidationResult {
  readonly ok: boolean;
  /** Human form of the identifier. */
  readonly identifier: string;
  readonly sni: string;
  readonly attempts: readonly ValidationAttempt[];
  /** Addresses DNS returned beyond {@link MAX_ADDRESSES_PER_FAMILY} per family, not dialled; absent when none. */
  readonly unchecked?: { readonly v6: number; readonly v4: number };
  /** The full text Let's Encrypt would return. */
  readonly problem?: string;
  /** Plain-language likely cause and fix (also on some successes, e.g. one that relied on the IPv4 fallback). */
  readonly hint?: string;
  readonly certificate?: CertificateSummary;
  readonly alpn?: string | false;
  readonly tlsVersion?: string;
}

/** An attempt with everything later steps look at. */
interface Evaluated extends AttemptFacts {
  readonly record: ValidationAttempt;
  readonly tlsVersion?: string;
}

/**
 * Validates `options.name` as Let's Encrypt would.
 *
 * @throws AlpnResponderError ERR_BAD_IDENTIFIER / ERR_WILDCARD_IDENTIFIER for the name, ERR_BAD_AUTHORIZATION for
 *   `expect`, ERR_BAD_PORT, ERR_BAD_TIMEOUT, and ERR_NAME_NOT_RESOLVED when `host` does not resolve. A name that
 *   does not resolve is not thrown: the CA would reject it, so it is a result.
 */
export async function validate(options: ValidateOptions): Promise<ValidationResult> {
  const identifier = parseIdentifier(options.name);
  const digest = options.expect === undefined ? undefined : parseAuthorization(options.expect);
  const port = checkPort(options.port ?? DEFAULT_VALIDATE_PORT);
  const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_VALIDATE_TIMEOUT_MS);
  if (options.resolver !== undefined) resolverServer(options.resolver);
  const resolve = options.resolve ?? ((name: string) => resolveAddresses(name, options.resolver === undefined ? {} : { server: options.resolver }));
  const human = formatIdentifier(identifier);
  const context: HintContext = { identifier: human, sni: identifier.sni, timeoutMs, ...(options.inDoctor ? { inDoctor: true } : {}) };
  const base = { identifier: human, sni: identifier.sni };

  let addresses: ResolvedAddresses;
  if (options.host !== undefined) {
    addresses = await hostAddresses(options.host, resolve);
  } else if (identifier.kind === 'ip') {
    // An IP identifier is dialled as it is; only the SNI carries its reverse name (RFC 8738 §6).
    addresses = identifier.bytes.length === 4 ? { v6: [], v4: [identifier.address] } : { v6: [identifier.address], v4: [] };
  } else {
    try {
      addresses = await resolve(identifier.name);
    } catch (error) {
      if (!hasCode(error, 'ERR_NAME_NOT_RESOLVED')) throw error;
      const failures = error instanceof NameNotResolvedError ? error : undefined;
      return { ok: false, ...base, attempts: [], problem: error.message, hint: resolutionHint(human, options.resolver, failures) };
    }
  }
  const attempt = (address: string): Promise<Evaluated> => evaluate(address, port, identifier, digest, timeoutMs);
  const plan = planAddresses(addresses);
  const v6 = await mapLimited(plan.v6, VALIDATE_CONCURRENCY, attempt);
  // IPv4 is dialled when the CA would fall back to it, when there is no IPv6 address, or to tell whether a wrong
  // IPv6 answer is the whole problem (not what the CA does; it never gets there).
  const needV4 = v6.length === 0 || v6.some((a) => a.record.outcome !== 'accepted');
  const v4 = needV4 ? await mapLimited(plan.v4, VALIDATE_CONCURRENCY, attempt) : [];
  const unchecked = { v6: plan.unchecked.v6, v4: needV4 ? plan.unchecked.v4 : 0 };
  return withUnchecked(judge(base, context, human, v6, v4, options.resolver), unchecked);
}

/** Notes the addresses left out, if any. */
function withUnchecked(result: ValidationResult, unchecked: { v6: number; v4: number }): ValidationResult {
  return unchecked.v6 + unchecked.v4 === 0 ? result : { ...result, unchecked };
}

/** The CA's verdict from the attempts over each family, in the order it dials them. */
function judge(
  base: { identifier: string; sni: string },
  context: HintContext,
  human: string,
  v6: Evaluated[],
  v4: Evaluated[],
  resolver: ValidateOptions['resolver'],
): ValidationResult {
  const attempts = [...v6, ...v4].map((a) => a.record);
  const firstGood = (list: readonly Evaluated[]): Evaluated | undefined => list.find((a) => a.record.outcome === 'accepted');

  // A wrong answer over IPv6 is final, whatever IPv4 would have said.
  const wrong6 = v6.find((a) => a.record.outcome === 'rejected');
  if (wrong6 !== undefined) {
    // The IPv4 connections were the doctor's, not the CA's: they are not listed.
    const result = finish(base, v6.map((a) => a.record), wrong6, context);
    const good4 = firstGood(v4);
    return good4 === undefined ? result : { ...result, hint: ipv6TrapHint(wrong6, good4.address, context) };
  }
  const fell6 = v6.find(fallsBack);
  if (fell6 !== undefined && v4.length === 0) {
    return { ok: false, ...base, attempts, problem: noFallbackProblem(human, fell6.address), hint: noFallbackHint(fell6, context) };
  }
  if (v6.length > 0 && fell6 === undefined) return finish(base, attempts, firstGood(v6) as Evaluated, context);
  if (v4.length === 0) {
    return { ok: false, ...base, attempts: [], problem: resolutionProblem(human, 'empty', 'empty'), hint: resolutionHint(human, resolver) };
  }
  const bad4 = v4.find((a) => a.record.outcome !== 'accepted');
  const result = finish(base, attempts, bad4 ?? (v4[0] as Evaluated), context);
  return result.ok && fell6 !== undefined ? { ...result, hint: fellBackHint(fell6, context) } : result;
}

/** Boulder falls back to IPv4 exactly when getting the certificate failed: no connection, no handshake. */
function fallsBack(attempt: Evaluated): boolean {
  return attempt.record.outcome === 'connect-failed' || attempt.record.outcome === 'handshake-failed';
}

/** The result once the CA has settled on `final`. */
function finish(
  base: { identifier: string; sni: string },
  attempts: ValidationAttempt[],
  final: Evaluated,
  context: HintContext,
): ValidationResult {
  const ok = final.record.outcome === 'accepted';
  return {
    ok,
    ...base,
    attempts,
    ...(ok ? {} : { problem: final.record.detail, hint: attemptHint(final, context) }),
    ...(final.certificate === undefined ? {} : { certificate: final.certificate }),
    ...(final.alpn === undefined ? {} : { alpn: final.alpn }),
    ...(final.tlsVersion === undefined ? {} : { tlsVersion: final.tlsVersion }),
  };
}

/** Dials one address and judges the answer in the CA's order. */
async function evaluate(
  address: string,
  port: number,
  identifier: Identifier,
  digest: Uint8Array | undefined,
  timeoutMs: number,
): Promise<Evaluated> {
  const family = ipVersion(address) === 6 ? 6 : 4;
  const record = (outcome: ValidationAttempt['outcome'], detail?: string): ValidationAttempt =>
    detail === undefined ? { address, port, family, outcome } : { address, port, family, outcome, detail };
  const result = await probe({ address, port, servername: identifier.sni, timeoutMs });
  if (!result.ok) {
    const outcome = result.failure.phase === 'connect' ? 'connect-failed' : 'handshake-failed';
    return { address, port, failure: result.failure, record: record(outcome, connectionProblemDetail(result.failure, address)) };
  }
  const handshake = { address, port, alpn: result.alpn, tlsVersion: result.tlsVersion };
  if (result.der === undefined) return { ...handshake, record: record('handshake-failed', CONNECTION_PROBLEMS.noCertificates) };
  const check = await checkChallengeCertificate(result.der, identifier, digest);
  const certificate = summarizeCertificate(result.der, check);
  const served = { ...handshake, check, ...(certificate === undefined ? {} : { certificate }) };
  // Go parses the certificate inside the handshake: a certificate it refuses is a failed handshake.
  if (!check.ok && check.stage === 'tls') return { ...served, record: record('handshake-failed', caProblemDetail(check, identifier, address, port)) };
  if (result.alpn !== ACME_TLS_ALPN) return { ...served, record: record('rejected', CONNECTION_PROBLEMS.noAlpn) };
  if (!check.ok) return { ...served, record: record('rejected', caProblemDetail(check, identifier, address, port)) };
  return { ...served, record: record('accepted') };
}

/** `--host`: an IP literal is used as it is (brackets allowed), a name is resolved like the identifier would be. */
async function hostAddresses(host: string, resolve: NonNullable<ValidateOptions['resolve']>): Promise<ResolvedAddresses> {
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const v4 = parseIPv4(literal);
  if (v4 !== undefined) return { v6: [], v4: [formatIpAddress(v4)] };
  const v6 = parseIPv6(literal);
  if (v6 !== undefined) return { v6: [formatIpAddress(v6)], v4: [] };
  const notResolved = (why: string): AlpnResponderError =>
    new AlpnResponderError('ERR_NAME_NOT_RESOLVED', `--host ${JSON.stringify(host)} does not resolve: ${why}`);
  let found: ResolvedAddresses;
  try {
    found = await resolve(literal);
  } catch (error) {
    throw hasCode(error, 'ERR_NAME_NOT_RESOLVED') ? notResolved(error.message) : error;
  }
  if (found.v6.length === 0 && found.v4.length === 0) throw notResolved(resolutionProblem(literal, 'empty', 'empty'));
  return found;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AlpnResponderError('ERR_BAD_PORT', `port ${String(port)} is not a TCP port (1-65535)`);
  }
  return port;
}

function checkTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new AlpnResponderError('ERR_BAD_TIMEOUT', `timeout of ${String(timeoutMs)} ms is not between 0 and ${MAX_TIMEOUT_MS} ms`);
  }
  return timeoutMs;
}
