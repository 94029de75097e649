/**
 * The CA's address lookup: AAAA and A queried separately (never getaddrinfo, which reads /etc/hosts and may drop a
 * family), failing only when both fail, with Boulder's wording.
 */
import { Resolver } from 'node:dns/promises';
import { AlpnResponderError } from '../errors.js';
import { resolutionProblem, type LookupFailure } from './ca-texts.js';

/** The addresses a name resolves to, each family in the order the resolver gave them. */
export interface ResolvedAddresses {
  readonly v6: string[];
  readonly v4: string[];
}

/** c-ares error codes (as node:dns reports them) → the RCODE or condition Boulder names. */
const LOOKUP_FAILURES: Readonly<Record<string, LookupFailure>> = {
  ENODATA: 'empty',
  ENOTFOUND: 'rcode:NXDOMAIN',
  ESERVFAIL: 'rcode:SERVFAIL',
  EREFUSED: 'rcode:REFUSED',
  ENOTIMP: 'rcode:NOTIMP',
  EFORMERR: 'rcode:FORMERR',
  ETIMEOUT: 'timeout',
  ECONNREFUSED: 'network',
};

/**
 * Looks up AAAA and A records for `name` with the system's DNS servers.
 *
 * @throws AlpnResponderError ERR_NAME_NOT_RESOLVED, whose message is what Let's Encrypt would say, when neither
 *   lookup gives an address.
 */
export async function resolveAddresses(name: string): Promise<ResolvedAddresses> {
  // Bounded like the CA's own lookups (seconds, not c-ares' default of four tries), for an unreachable resolver.
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  const [v6, v4] = await Promise.allSettled([resolver.resolve6(name), resolver.resolve4(name)]);
  const addresses = (result: PromiseSettledResult<string[]>): string[] => (result.status === 'fulfilled' ? result.value : []);
  const found = { v6: addresses(v6), v4: addresses(v4) };
  if (found.v6.length > 0 || found.v4.length > 0) return found;
  throw new AlpnResponderError('ERR_NAME_NOT_RESOLVED', resolutionProblem(name, lookupFailure(v4), lookupFailure(v6)));
}

function lookupFailure(result: PromiseSettledResult<string[]>): LookupFailure {
  if (result.status === 'fulfilled') return 'empty';
  const code = (result.reason as NodeJS.ErrnoException).code ?? '';
  return LOOKUP_FAILURES[code] ?? 'server-failure';
}
