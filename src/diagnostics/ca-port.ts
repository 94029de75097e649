/**
 * Whether the CA can reach the daemon at all. RFC 8737, section 3: the ACME server "initiates a TLS connection to
 * the chosen IP address [...] on port 443", from outside this host: a daemon on loopback only, or on another port
 * with nothing on 443 that passes acme-tls/1 on to it, is never asked. Pure: `port-owner.ts`'s facts in, checks out.
 */
import { isLoopbackAddress } from '../ip-address.js';
import { formatListenAddress } from '../net/listen-address.js';
import type { Check } from './checklist.js';
import type { DaemonView, ListeningSocket, SocketVerdict, SocketVisibility } from './port-owner.js';

/** The port the CA connects to (RFC 8737, section 3). */
export const CA_PORT = 443;

/** Everything {@link judgeCaPort} weighs. */
export interface CaPortFacts {
  /** {@link CA_PORT}; tests point it at an ephemeral port. */
  readonly caPort: number;
  /**
   * A test CA on this host (`--ca-port` other than 443, such as pebble's tlsPort): it reaches loopback addresses
   * too, so a daemon on 127.0.0.1 or ::1 counts as reachable.
   */
  readonly caOnThisHost?: boolean;
  readonly sockets: readonly ListeningSocket[];
  readonly visibility: SocketVisibility;
  /** Undefined when the control socket did not answer: then the daemon's default port is examined instead. */
  readonly daemon: DaemonView | undefined;
  /** The self-test's verdict per socket; absent when none ran (`--quick`). */
  readonly selfTest?: (socket: ListeningSocket) => SocketVerdict;
}

function owner(socket: ListeningSocket): string {
  const where = socket.address.includes(':') ? `[${socket.address}]` : socket.address;
  return socket.pid === undefined ? `a process on ${where}` : `${socket.process ?? 'process'} (pid ${socket.pid}) on ${where}`;
}

/**
 * Judges whether anything on the CA's port, reachable from outside, leads to the daemon: the daemon itself on a
 * non-loopback address, or a front whose self-test passed. Returns nothing when the daemon listens there itself
 * (`judgePort` then says who owns the port and which families reach it) or when it cannot be told.
 */
export function judgeCaPort(facts: CaPortFacts): Check[] {
  const { caPort, daemon, visibility } = facts;
  if (daemon === undefined || visibility.tool === 'none' || visibility.tool === 'timeout') return [];
  // A daemon's own listener may still be named `localhost` by a daemon older than the IP-only --listen.
  const reachable = (host: string): boolean => facts.caOnThisHost === true || !(host === 'localhost' || isLoopbackAddress(host));
  if (daemon.listeners.some((l) => l.port === caPort && reachable(l.host))) return [];
  const daemonAt = daemon.listeners.map(formatListenAddress).join(', ');
  const check = (status: Check['status'], title: string, remedy: string): Check => ({ id: 'ca-port', status, title: `port ${caPort}: ${title}`, remedy });
  const layoutC = `docs/layouts.md, layout (c)`;
  const outside = facts.sockets.filter((s) => s.port === caPort && reachable(s.address));
  if (outside.length === 0) {
    const loopbackOnCaPort = daemon.listeners.some((l) => l.port === caPort);
    return [
      check(
        'fail',
        `the CA connects to port ${caPort} only, and nothing listens there that it can reach (the daemon listens on ${daemonAt}): the CA would get "Connection refused"`,
        loopbackOnCaPort
          ? `Listen where the CA can connect: --listen '[::]:${caPort}' (dual-stack, IPv4 too). A loopback address suits only a daemon behind a front proxy on port ${caPort} that passes acme-tls/1 on to it (${layoutC}), and none listens there.`
          : `Run the daemon with --listen '[::]:${caPort}', or put a front proxy on port ${caPort} that forwards acme-tls/1 to the daemon at ${daemonAt} (${layoutC}).`,
      ),
    ];
  }
  const verdicts = outside.map((s) => facts.selfTest?.(s));
  if (verdicts.some((v) => v?.kind === 'passed')) return [];
  const owners = [...new Set(outside.map(owner))].join(', ');
  const remedy = `The front must forward acme-tls/1 to the daemon at ${daemonAt} (${layoutC}), or the daemon must listen on port ${caPort} itself (--listen '[::]:${caPort}').`;
  if (facts.selfTest === undefined) {
    return [
      check(
        'warn',
        `the CA connects to port ${caPort} only, and the daemon listens on ${daemonAt}: ${owners} must pass acme-tls/1 on to it (not tested: --quick runs no self-test)`,
        remedy,
      ),
    ];
  }
  return [
    check(
      'fail',
      `the CA connects to port ${caPort} only, and the daemon listens on ${daemonAt}: no self-test through ${owners} reached the daemon`,
      remedy,
    ),
  ];
}
