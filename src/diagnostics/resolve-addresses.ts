/**
 * The addresses a name resolves to, looked up the way the operator's machine does or through one named DNS server:
 * by default the system resolver (getaddrinfo, so /etc/hosts and nsswitch count: `localhost`, names a split-horizon
 * setup only knows locally), or with `--resolver HOST:PORT` AAAA and A queried separately at that server, as the
 * CA's own resolver does (a test DNS server such as pebble-challtestsrv). Failing only when both families fail,
 * with Boulder's wording.
 */
import type { LookupAddress } from 'node:dns';
import dns from 'node:dns/promises';
import { AlpnResponderError } from '../errors.js';
import { parseListenAddress } from '../net/listen-address.js';
import { resolutionProblem, type LookupFailure } from './ca-texts.js';

/** The addresses a name resolves to, each family in the order the resolver gave them. */
export interface ResolvedAddresses {
  readonly v6: string[];
  readonly v4: string[];
}

/** How to resolve. */
export interface ResolveOptions {
  /** `HOST:PORT` of a DNS server to ask directly (IPv6 in brackets); undefined: the system resolver. */
  readonly server?: string;
}

/** c-ares and getaddrinfo error codes (as node:dns reports them) → the RCODE or condition Boulder names. */
const LOOKUP_FAILURES: Readonly<Record<string, LookupFailure>> = {
  ENODATA: 'empty',
  ENOTFOUND: 'rcode:NXDOMAIN',
  ESERVFAIL: 'rcode:SERVFAIL',
  EREFUSED: 'rcode:REFUSED',
  ENOTIMP: 'rcode:NOTIMP',
  EFORMERR: 'rcode:FORMERR',
  ETIMEOUT: 'timeout',
  ECONNREFUSED: 'network',
  // getaddrinfo's "try again": the resolver it asked did not answer or failed.
  EAI_AGAIN: 'timeout',
  EAI_FAIL: 'server-failure',
};

/** Bounded like the CA's own lookups (seconds, not c-ares' default of four tries), for an unreachable resolver. */
const QUERY_TIMEOUT_MS = 5000;

/** A `--resolver` value as c-ares takes it (`127.0.0.1:8053`, `[::1]:53`); throws ERR_BAD_RESOLVER. */
export function resolverServer(text: string): string {
  let address;
  try {
    address = parseListenAddress(text);
  } catch {
    address = undefined;
  }
  if (address === undefined || address.port === 0 || !/^[0-9a-fA-F:.]+$/.test(address.host)) {
    throw new AlpnResponderError('ERR_BAD_RESOLVER', `--resolver ${JSON.stringify(text)} is not IP:PORT of a DNS server, e.g. 127.0.0.1:8053 or [::1]:53`);
  }
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Looks up AAAA and A records for `name`.
 *
 * @throws AlpnResponderError ERR_NAME_NOT_RESOLVED, whose message is what Let's Encrypt would say, when neither
 *   family gives an address; ERR_BAD_RESOLVER for a malformed `server`.
 */
export async function resolveAddresses(name: string, options: ResolveOptions = {}): Promise<ResolvedAddresses> {
  if (options.server === undefined) return systemLookup(name);
  const resolver = new dns.Resolver({ timeout: QUERY_TIMEOUT_MS, tries: 2 });
  resolver.setServers([resolverServer(options.server)]);
  const [v6, v4] = await Promise.allSettled([resolver.resolve6(name), resolver.resolve4(name)]);
  const addresses = (result: PromiseSettledResult<string[]>): string[] => (result.status === 'fulfilled' ? result.value : []);
  const found = { v6: addresses(v6), v4: addresses(v4) };
  if (found.v6.length > 0 || found.v4.length > 0) return found;
  throw notResolved(name, lookupFailure(v4), lookupFailure(v6));
}

/** getaddrinfo through node:dns.lookup, every address of both families in the resolver's order. */
async function systemLookup(name: string): Promise<ResolvedAddresses> {
  let entries: LookupAddress[];
  try {
    entries = await dns.lookup(name, { all: true, verbatim: true });
  } catch (error) {
    const failure = LOOKUP_FAILURES[(error as NodeJS.ErrnoException).code ?? ''] ?? 'server-failure';
    throw notResolved(name, failure, failure);
  }
  const found = {
    v6: [...new Set(entries.filter((e) => e.family === 6).map((e) => e.address))],
    v4: [...new Set(entries.filter((e) => e.family === 4).map((e) => e.address))],
  };
  if (found.v6.length > 0 || found.v4.length > 0) return found;
  throw notResolved(name, 'empty', 'empty');
}

/** ERR_NAME_NOT_RESOLVED with what went wrong for each family, so that hints can tell a dead resolver from a missing record. */
export class NameNotResolvedError extends AlpnResponderError {
  constructor(
    name: string,
    readonly a: LookupFailure,
    readonly aaaa: LookupFailure,
  ) {
    super('ERR_NAME_NOT_RESOLVED', resolutionProblem(name, a, aaaa));
  }
}

function notResolved(name: string, a: LookupFailure, aaaa: LookupFailure): AlpnResponderError {
  return new NameNotResolvedError(name, a, aaaa);
}

function lookupFailure(result: PromiseSettledResult<string[]>): LookupFailure {
  if (result.status === 'fulfilled') return 'empty';
  const code = (result.reason as NodeJS.ErrnoException).code ?? '';
  return LOOKUP_FAILURES[code] ?? 'server-failure';
}
