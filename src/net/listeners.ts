import net from 'node:net';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';

/** Accept queue length asked for; see {@link Listeners.bind}. */
const LISTEN_BACKLOG = 4096;

/** Where to listen: an address, or a listening descriptor (systemd's, shared with a worker process by cluster). */
export type ListenTarget = ListenAddress | { readonly fd: number };

function describe(target: ListenTarget): string {
  return 'fd' in target ? `fd ${target.fd}` : formatListenAddress(target);
}

/** The remedy that fits why a listen address could not be opened; undefined: ERR_LISTEN's usual one. */
function listenRemedy(errno: string | undefined, target: ListenTarget): string | undefined {
  if ('fd' in target) return undefined;
  switch (errno) {
    case 'EADDRNOTAVAIL':
      return `${target.host} is not an address of this host (\`ip -brief address\` lists them): listen on one of those, or on [::] or 0.0.0.0 for all of them.`;
    case 'EADDRINUSE':
      return `Another process owns port ${target.port}: \`ss -ltnp 'sport = :${target.port}'\` names it (as root). Stop it, move it (docs/layouts.md), or listen on another port.`;
    case 'EACCES':
      return `Ports below 1024 need root or CAP_NET_BIND_SERVICE: start the daemon as root (--user drops privileges after binding) or grant the capability (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE).`;
    default:
      return undefined;
  }
}

/** TCP listeners handing every accepted socket to one callback. */
export class Listeners {
  /** The addresses actually bound (port 0 resolved). */
  readonly addresses: readonly ListenAddress[];
  readonly #servers: readonly net.Server[];
  #closing: Promise<void> | undefined;

  private constructor(servers: net.Server[], addresses: ListenAddress[]) {
    this.#servers = servers;
    this.addresses = addresses;
  }

  /**
   * Binds every address or none: on the first failure the ones already bound are closed again. In a worker process
   * (`--workers`), cluster has the primary open the socket (or take the descriptor) and share it.
   */
  static async bind(addresses: readonly ListenTarget[], onConnection: (socket: net.Socket) => void, log: Logger): Promise<Listeners> {
    const servers: net.Server[] = [];
    const bound: ListenAddress[] = [];
    try {
      for (const address of addresses) {
        // Half-open connections stay open so a passed-through client can finish sending while the backend answers.
        const server = net.createServer({ noDelay: true, allowHalfOpen: true }, onConnection);
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          // `[::]` stays dual-stack (ipv6Only false) so IPv4 clients reach the same listener. A deep accept queue
          // (the kernel caps it at net.core.somaxconn) keeps a connection flood from dropping the CA's SYN, which
          // would cost it a one-second retransmission.
          const where = 'fd' in address ? { fd: address.fd } : { host: address.host, port: address.port, ipv6Only: false };
          server.listen({ ...where, backlog: LISTEN_BACKLOG }, () => {
            server.off('error', reject);
            resolve();
          });
        }).catch((error: NodeJS.ErrnoException) => {
          const remedy = listenRemedy(error.code, address);
          throw new AlpnResponderError('ERR_LISTEN', `cannot listen on ${describe(address)}: ${error.code ?? error.message}`, {
            cause: error,
            ...(remedy === undefined ? {} : { remedy }),
          });
        });
        bound.push(watch(server, log, 'fd' in address ? address.fd : undefined));
      }
    } catch (error) {
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      throw error;
    }
    return new Listeners(servers, bound);
  }

  /**
   * Takes over TCP sockets that are listening already (passed by systemd, see systemd/passed-sockets.ts).
   * Synchronous, so connections queued on them find `onConnection` attached.
   */
  static adopt(passed: readonly { fd: number; server: net.Server }[], onConnection: (socket: net.Socket) => void, log: Logger): Listeners {
    const servers = passed.map(({ server }) => server.on('connection', onConnection));
    return new Listeners(servers, passed.map(({ server, fd }) => watch(server, log, fd)));
  }

  /** Stops accepting; open connections are the handler's to end. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.all(
      this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    ).then(() => undefined);
    return this.#closing;
  }
}

/** Logs a listening server's address (and descriptor, if passed) and its later errors; returns the address. */
function watch(server: net.Server, log: Logger, fd?: number): ListenAddress {
  const actual = server.address() as net.AddressInfo;
  const address = { host: actual.address, port: actual.port };
  server.on('error', (error) => log.log('error', 'listener-error', { address: formatListenAddress(address), error: error.message }));
  log.log('info', 'listening', { address: actual.address, port: actual.port, fd });
  return address;
}
