import { AlpnResponderError } from '../errors.js';
import { formatListenAddress, parseListenAddress, type ListenAddress } from './listen-address.js';

/** Where ordinary TLS connections go, by SNI name. */
export interface BackendTable {
  /** The backend for a ClientHello's SNI (or for a hello without one), if any. */
  lookup(serverName: string | undefined): ListenAddress | undefined;
  /** Human-readable rules, for start-up logs. */
  readonly rules: readonly string[];
  /** The `--backend` values the table was built from (worker processes build their own from them). */
  readonly values: readonly string[];
}

function bad(text: string, why: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_BACKEND', `--backend ${JSON.stringify(text)}: ${why}`);
}

const NAME = /^(\*\.)?([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Builds the backend table from `--backend` values: `HOST:PORT` is the default, `NAME=HOST:PORT` a rule for one SNI
 * name, and `*.example.org=HOST:PORT` for its subdomains. An exact name wins over a wildcard, the longest wildcard
 * over shorter ones, and the default catches the rest, hellos without SNI included.
 */
export function parseBackends(values: readonly string[]): BackendTable {
  const exact = new Map<string, ListenAddress>();
  const suffixes = new Map<string, ListenAddress>();
  let fallback: ListenAddress | undefined;
  for (const text of values) {
    const equals = text.indexOf('=');
    const addressText = equals === -1 ? text : text.slice(equals + 1);
    let address: ListenAddress;
    try {
      address = parseListenAddress(addressText);
    } catch {
      throw bad(text, `${JSON.stringify(addressText)} is not HOST:PORT`);
    }
    if (address.port === 0) throw bad(text, 'port 0 is not a backend');
    if (equals === -1) {
      if (fallback) throw bad(text, 'a default backend is already set');
      fallback = address;
      continue;
    }
    // RFC 6066 §3 compares host names case-insensitively and without a trailing dot; so do the rules.
    const name = text.slice(0, equals).toLowerCase().replace(/\.$/, '');
    if (!NAME.test(name) || name.length > 253) throw bad(text, `${JSON.stringify(name)} is not a host name or *.domain`);
    const table = name.startsWith('*.') ? suffixes : exact;
    const key = name.startsWith('*.') ? name.slice(1) : name;
    if (table.has(key)) throw bad(text, `${name} has a backend already`);
    table.set(key, address);
  }
  const longestFirst = [...suffixes.entries()].sort(([a], [b]) => b.length - a.length);
  const rules = [
    ...[...exact].map(([name, address]) => `${name}=${formatListenAddress(address)}`),
    ...longestFirst.map(([suffix, address]) => `*${suffix}=${formatListenAddress(address)}`),
    ...(fallback ? [`default=${formatListenAddress(fallback)}`] : []),
  ];
  return {
    rules,
    values: [...values],
    lookup(serverName) {
      if (serverName === undefined) return fallback;
      const name = serverName.toLowerCase().replace(/\.$/, '');
      const hit = exact.get(name);
      if (hit) return hit;
      for (const [suffix, address] of longestFirst) if (name.endsWith(suffix)) return address;
      return fallback;
    },
  };
}
