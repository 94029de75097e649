import { parseIPv4, parseIPv6 } from '../ip-address.js';
import { AlpnResponderError } from '../errors.js';

/** A parsed `--listen` value. */
export interface ListenAddress {
  /** Host without brackets: `0.0.0.0`, `::`, `::1`, `localhost`. */
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `HOST:PORT`, with IPv6 hosts in brackets (`[::]:443`, `[::1]:8443`, `127.0.0.1:0`). Port 0 asks the
 * kernel for a free port (tests, benchmarks).
 */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || !(port >= 0 && port <= 65535)) {
    throw new AlpnResponderError(
      'ERR_BAD_LISTEN_ADDRESS',
      `${JSON.stringify(text)} is not HOST:PORT; write IPv6 in brackets, e.g. [::]:443, 0.0.0.0:443, [::1]:8443`,
    );
  }
  return { host, port };
}

/**
 * Parses a `--listen` value: like {@link parseListenAddress}, but HOST must be an IP address, the one the socket
 * binds to. A name would be resolved once at start-up to whichever address came first, and a typo such as
 * `999.1.1.1` or `nonexistent.invalid` would only fail later with a misleading ERR_LISTEN.
 */
export function parseListenIp(text: string): ListenAddress {
  const address = parseListenAddress(text);
  if (parseIPv4(address.host) === undefined && parseIPv6(address.host) === undefined) {
    throw new AlpnResponderError(
      'ERR_BAD_LISTEN_ADDRESS',
      `${JSON.stringify(address.host)} is not an IP address; names, even localhost, are not taken`,
    );
  }
  return address;
}

/** Formats an address as `HOST:PORT`, bracketing IPv6. */
export function formatListenAddress(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
