import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import type { ReadyChallenge } from '../store/certificate-cache.js';
import { encodeFatalAlert } from '../tls/alert.js';
import { readClientHello, type HelloLimits } from './client-hello-reader.js';
import { serveChallenge } from './responder.js';
import { route } from './router.js';

/** What the connection handler needs from the rest of the daemon. */
export interface ConnectionHandlerOptions {
  readonly lookup: (sni: string) => ReadyChallenge | undefined;
  readonly log: Logger;
  readonly hello: HelloLimits;
  readonly handshakeTimeoutMs: number;
  /** How long a refused client may take to read the alert before the socket is dropped. */
  readonly lingerMs?: number;
}

/** Counters over every connection handled. */
export interface ConnectionStats {
  served: number;
  rejected: number;
}

/** Refuses politely: the alert (if any), a FIN, and a hard close if the peer never hangs up. */
function refuse(socket: net.Socket, alert: number | undefined, lingerMs: number): void {
  socket.resume();
  if (alert === undefined) socket.end();
  else socket.end(encodeFatalAlert(alert));
  setTimeout(() => socket.destroy(), lingerMs).unref();
}

/**
 * Handles each accepted TCP connection: reads its ClientHello, routes it, and either completes the challenge
 * handshake or refuses it. Every connection ends in exactly one `connection` log event.
 */
export class ConnectionHandler {
  readonly stats: ConnectionStats = { served: 0, rejected: 0 };
  readonly #options: ConnectionHandlerOptions;
  readonly #sockets = new Set<net.Socket>();

  constructor(options: ConnectionHandlerOptions) {
    this.#options = options;
  }

  /** Number of connections open right now. */
  get active(): number {
    return this.#sockets.size;
  }

  /** Takes ownership of an accepted socket. */
  handle(socket: net.Socket): void {
    const started = performance.now();
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#sockets.add(socket);
    socket.on('error', () => undefined); // Failures are reported through the outcome; a reset is routine here.
    socket.once('close', () => this.#sockets.delete(socket));
    void this.#run(socket, remote, started);
  }

  /** Drops every open connection (shutdown). */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async #run(socket: net.Socket, remote: string, started: number): Promise<void> {
    const { log, lookup } = this.#options;
    const lingerMs = this.#options.lingerMs ?? 2000;
    const done = (outcome: string, fields: Record<string, string | undefined>): void => {
      log.log('info', 'connection', { remote, ...fields, outcome, ms: (performance.now() - started).toFixed(1) });
    };
    const read = await readClientHello(socket, this.#options.hello);
    if (read.kind !== 'hello') {
      this.stats.rejected++;
      refuse(socket, undefined, lingerMs);
      done('rejected', { reason: read.kind === 'invalid' ? `invalid-hello:${read.reason}` : read.kind });
      return;
    }
    const { hello } = read;
    const fields = { sni: hello.serverName, alpn: hello.alpn.join(',') || undefined };
    const decision = route(hello, lookup);
    if (decision.kind === 'reject') {
      this.stats.rejected++;
      refuse(socket, decision.alert, lingerMs);
      done('rejected', { ...fields, reason: decision.reason });
      return;
    }
    const outcome = await serveChallenge(socket, read.buffered, decision.target.context, this.#options.handshakeTimeoutMs);
    if (outcome.ok) {
      this.stats.served++;
      decision.target.served++;
      done('served', { ...fields, tls: outcome.protocol });
    } else {
      this.stats.rejected++;
      done('failed', { ...fields, reason: outcome.reason });
    }
  }
}
