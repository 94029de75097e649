/**
 * Which front serves the TLS port (see net/front.ts): this process with `--workers 1`, else a pool of worker
 * processes; and the settings each serving process gets. Part of the composition root (daemon.ts).
 */
import { fileURLToPath } from 'node:url';
import type { DaemonOptions } from './config/serve-options.js';
import type { Logger } from './log.js';
import { ContextTable } from './net/context-table.js';
import type { Front } from './net/front.js';
import { TlsPort } from './net/tls-port.js';
import type { WireConnectionSettings } from './net/tls-port-settings.js';
import type { StartGate } from './start-gate.js';
import { sortPassedSockets, type PassedDescriptor, type PassedSocket, type SocketRoles } from './systemd/listen-fds.js';
import { openPassedSockets, type OpenedSocket } from './systemd/passed-sockets.js';
import { isUnixSocket, unixSocketInodes } from './systemd/socket-kind.js';
import { WorkerFront } from './workers/worker-front.js';
import { WorkerPool } from './workers/worker-pool.js';

/** The worker program forked by `--workers`, next to this file in dist/. */
const WORKER_PROGRAM = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * The TLS-port settings of each serving process. With workers, both connection limits are shared out among them
 * (rounded up), so that each means the same for the whole daemon whatever `--workers` is: the kernel, not the
 * daemon, picks the worker of each connection, and asking the primary on every accept would cost a round trip.
 */
export function wireConnectionSettings(options: DaemonOptions): WireConnectionSettings {
  return {
    backends: options.backends.values,
    backendProxyProtocol: options.backendProxyProtocol,
    acceptProxyProtocol: options.acceptProxyProtocol,
    maxHelloBytes: options.maxHelloBytes,
    helloTimeoutMs: options.helloTimeoutMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    backendConnectTimeoutMs: options.backendConnectTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnections: Math.ceil(options.maxConnections / options.workers),
    maxConnectionsPerSource: Math.ceil(options.maxConnectionsPerSource / options.workers),
    // Not divided: each worker's CPU gets the same protection, and the kernel does not spread one source evenly.
    handshakeRate: options.handshakeRate,
    handshakeBurst: options.handshakeBurst,
  };
}

/** Sorts passed descriptors by kind without listening on them: with workers, only they may accept. */
export function sortUnopened(passed: readonly PassedDescriptor[]): SocketRoles<PassedDescriptor & PassedSocket> {
  const unixInodes = passed.length > 0 ? unixSocketInodes() : new Set<string>();
  return sortPassedSockets(passed.map((descriptor) => ({ ...descriptor, unix: isUnixSocket(descriptor.fd, unixInodes) })));
}

/**
 * The front `--workers` asks for, not started yet, and the control socket systemd passed, if any. This process
 * serves passed TLS sockets at once (systemd may have queued connections; `gate` holds them until start-up is
 * done); workers get them unopened.
 */
export function createFront(
  options: DaemonOptions,
  passed: readonly PassedDescriptor[],
  log: Logger,
  gate: StartGate,
  onLost: () => void,
): { front: Front; control: OpenedSocket | undefined } {
  if (options.workers === 1) {
    const adopted = openPassedSockets(passed);
    const port = new TlsPort({ contexts: new ContextTable(), settings: wireConnectionSettings(options), listen: options.listen, log, gate });
    if (adopted.tls.length > 0) port.adopt(adopted.tls);
    return { front: port, control: adopted.control };
  }
  const unopened = sortUnopened(passed);
  const pool = new WorkerPool({
    count: options.workers,
    exec: WORKER_PROGRAM,
    log,
    onLost: (error) => {
      log.log('error', 'workers-lost', { error: error.message, action: 'exit' });
      onLost();
    },
    settings: {
      listen: unopened.tls.length > 0 ? unopened.tls.map(({ fd }) => ({ fd })) : options.listen,
      connection: wireConnectionSettings(options),
      runAs: options.runAs,
      logLevel: options.logLevel,
    },
  });
  return { front: new WorkerFront(pool, gate), control: unopened.control && openPassedSockets([unopened.control]).control };
}
