/**
 * Connects to each listener from this host, over each address family it should accept: a listener the socket list
 * shows can still be unreachable (a local firewall rule, an IPv6-only socket where dual-stack was meant).
 */
import net from 'node:net';
import { formatListenAddress } from '../net/listen-address.js';
import type { Check } from './checklist.js';
import { probeHosts, type ListenTarget } from './listen-targets.js';

/** Errors that mean the family itself is missing on this host, not that the listener refuses. */
const NO_FAMILY = new Set(['EADDRNOTAVAIL', 'ENETUNREACH', 'EAFNOSUPPORT', 'EPROTONOSUPPORT']);

/** Resolves with undefined when a TCP connection is accepted, else with the error code. */
function connectOnce(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** One line per target: which loopback (or local) addresses accept a TCP connection to it. */
export async function probeLoopback(targets: readonly ListenTarget[], timeoutMs: number): Promise<Check[]> {
  return Promise.all(
    targets.map(async ({ address }) => {
      const hosts = probeHosts(address);
      const results = await Promise.all(hosts.map(async (host) => ({ host, error: await connectOnce(host, address.port, timeoutMs) })));
      const where = formatListenAddress(address);
      const refused = results.filter((r) => r.error !== undefined && !(r.host === '::1' && NO_FAMILY.has(r.error)));
      const noIPv6 = results.some((r) => r.host === '::1' && r.error !== undefined && NO_FAMILY.has(r.error));
      const parts = results.map((r) => (r.error === undefined ? `${r.host} accepts` : `${r.host} ${r.error}`)).join(', ');
      if (refused.length > 0) {
        return {
          id: 'loopback',
          status: 'fail',
          title: `${where} over TCP from this host: ${parts}`,
          remedy:
            'Nothing accepts there for that family: is the daemon listening on it (see the port lines), and does a ' +
            'local firewall rule (nftables, iptables) drop it?',
        } satisfies Check;
      }
      if (noIPv6) {
        return {
          id: 'loopback',
          status: 'warn',
          title: `${where} over TCP from this host: ${parts} (no IPv6 loopback here)`,
          remedy: 'This host has no usable IPv6: the CA can only validate over IPv4, so the names must have no AAAA record.',
        } satisfies Check;
      }
      return { id: 'loopback', status: 'pass', title: `${where} accepts TCP from this host on ${hosts.join(' and ')}` } satisfies Check;
    }),
  );
}
